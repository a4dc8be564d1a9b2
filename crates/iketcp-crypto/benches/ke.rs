//! Public-key cost of one IKE SA setup with X25519: both sides' key generation and
//! agreement.

use criterion::{Criterion, criterion_group, criterion_main};
use iketcp_crypto::{KeGroup, SystemRng};

fn x25519_setup(c: &mut Criterion) {
    let mut rng = SystemRng::new();
    c.bench_function("x25519 both sides", |b| {
        b.iter(|| {
            let i = KeGroup::Curve25519.start(&mut rng).expect("keygen");
            let r = KeGroup::Curve25519.start(&mut rng).expect("keygen");
            let ri = r.public_value().to_vec();
            let si = i.complete(&ri).expect("agree");
            std::hint::black_box(si);
        })
    });
}

criterion_group!(benches, x25519_setup);
criterion_main!(benches);
