//! Picking payloads out of a message's payload list (RFC 7296 §3: at most one of each of
//! these is meaningful per message; the first is taken).

use iketcp_wire::ike::{Auth, Id, Ke, Nonce, NotifyType, Payload, Sa, Ts};

pub(crate) trait Payloads {
    fn sa(&self) -> Option<&Sa>;
    fn ke(&self) -> Option<&Ke>;
    fn nonce(&self) -> Option<&Nonce>;
    fn ts_i(&self) -> Option<&Ts>;
    fn ts_r(&self) -> Option<&Ts>;
    fn id_i(&self) -> Option<&Id>;
    fn id_r(&self) -> Option<&Id>;
    fn auth(&self) -> Option<&Auth>;
    fn has_notify(&self, ty: NotifyType) -> bool;
}

macro_rules! pick {
    ($name:ident, $variant:ident, $ty:ty) => {
        fn $name(&self) -> Option<&$ty> {
            self.iter().find_map(|p| match p {
                Payload::$variant(v) => Some(v),
                _ => None,
            })
        }
    };
}

impl Payloads for [Payload] {
    pick!(sa, Sa, Sa);
    pick!(ke, Ke, Ke);
    pick!(nonce, Nonce, Nonce);
    pick!(ts_i, TsI, Ts);
    pick!(ts_r, TsR, Ts);
    pick!(id_i, IdI, Id);
    pick!(id_r, IdR, Id);
    pick!(auth, Auth, Auth);

    fn has_notify(&self, ty: NotifyType) -> bool {
        self.iter()
            .any(|p| matches!(p, Payload::Notify(n) if n.notify_type == ty))
    }
}
