//! The public-key cost of one IKE SA setup with Curve25519 (RFC 8031): both peers
//! generate an ephemeral key and both complete the agreement.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use iketcp_crypto::{KeGroup, SystemRng};

fn ike_sa_setup(c: &mut Criterion) {
    let mut group = c.benchmark_group("ike_sa_setup_ke");
    for ke in [KeGroup::Curve25519, KeGroup::Ecp256, KeGroup::Modp2048] {
        let mut rng = SystemRng::new();
        group.bench_function(format!("{ke:?}"), |b| {
            b.iter(|| {
                let initiator = ke.start(&mut rng).unwrap();
                let responder = ke.start(&mut rng).unwrap();
                let r_pub = responder.public_value().to_vec();
                let i_pub = initiator.public_value().to_vec();
                let si = initiator.complete(&r_pub).unwrap();
                let sr = responder.complete(&i_pub).unwrap();
                black_box((si, sr))
            });
        });
    }
    group.finish();
}

criterion_group!(benches, ike_sa_setup);
criterion_main!(benches);
