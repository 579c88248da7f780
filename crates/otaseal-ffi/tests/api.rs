//! The C API's answers to misuse: NULL pointers, bad lengths and flags,
//! malformed anchors, uninitialized, moved and finished states. Each is a
//! status code, never undefined behaviour.

use std::ffi::CStr;
use std::path::Path;
use std::ptr;

use otaseal_ffi::otaseal_status::{self, *};
use otaseal_ffi::*;

fn fixture(path: &str) -> Vec<u8> {
    std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../firmware-fixtures")
            .join(path),
    )
    .unwrap()
}

fn p256_root_der() -> Vec<u8> {
    let pem = fixture("pki/ecdsa-p256/root.cert.pem");
    pem_rfc7468::decode_vec(&pem).unwrap().1
}

fn zeroed_state() -> Box<otaseal_verifier> {
    // SAFETY: the state is plain bytes; all-zero is a valid (dead) value.
    Box::new(unsafe { std::mem::zeroed() })
}

fn code(s: otaseal_status) -> String {
    // SAFETY: otaseal_error_code_str returns a static NUL-terminated string.
    unsafe { CStr::from_ptr(otaseal_error_code_str(s as i32)) }
        .to_str()
        .unwrap()
        .to_string()
}

const EMPTY_TRUST: otaseal_trust = otaseal_trust {
    roots: ptr::null(),
    roots_len: 0,
    keys: ptr::null(),
    keys_len: 0,
    tsa_roots: ptr::null(),
    tsa_roots_len: 0,
};

fn policy() -> otaseal_policy {
    otaseal_policy {
        flags: 0,
        required_suites: 0,
        require_timestamp: 0,
        digest_policy: OTASEAL_DIGESTS_FOLLOW_SUITES,
        digest_families: 0,
        hw_id: ptr::null(),
        hw_id_len: 0,
        min_security_version: 0,
        time: 0,
    }
}

fn init(
    state: &mut otaseal_verifier,
    buf: &mut [u8],
    trust: &otaseal_trust,
    policy: Option<&otaseal_policy>,
) -> otaseal_status {
    // SAFETY: every pointer is valid for the duration of the test.
    unsafe {
        otaseal_verifier_init(
            state,
            buf.as_mut_ptr(),
            buf.len(),
            trust,
            policy.map_or(ptr::null(), |p| p as *const _),
        )
    }
}

#[test]
fn code_strings_are_the_rust_ones() {
    assert_eq!(code(OTASEAL_OK), "ok");
    assert_eq!(
        code(OTASEAL_ERR_PAYLOAD_DIGEST_MISMATCH),
        "payload-digest-mismatch"
    );
    assert_eq!(code(OTASEAL_ERR_NULL_ARGUMENT), "ffi-null-argument");
    // SAFETY: static strings.
    let unknown = unsafe { CStr::from_ptr(otaseal_error_code_str(-7)) };
    assert_eq!(unknown.to_str().unwrap(), "unknown");
    assert_eq!(otaseal_buffer_size(4096), otaseal_verify::buffer_size(4096));
    assert_eq!(otaseal_buffer_size(usize::MAX), usize::MAX);
}

#[test]
fn null_and_bad_arguments_are_reported() {
    let mut buf = vec![0u8; otaseal_buffer_size(4096)];
    let mut state = zeroed_state();
    // SAFETY (all calls): NULLs and lengths are what is being tested; every
    // non-null pointer is valid.
    unsafe {
        assert_eq!(
            otaseal_verifier_init(
                ptr::null_mut(),
                buf.as_mut_ptr(),
                buf.len(),
                &EMPTY_TRUST,
                ptr::null()
            ),
            OTASEAL_ERR_NULL_ARGUMENT
        );
        assert_eq!(
            otaseal_verifier_init(&mut *state, ptr::null_mut(), 10, &EMPTY_TRUST, ptr::null()),
            OTASEAL_ERR_NULL_ARGUMENT
        );
        assert_eq!(
            otaseal_verifier_init(
                &mut *state,
                buf.as_mut_ptr(),
                buf.len(),
                ptr::null(),
                ptr::null()
            ),
            OTASEAL_ERR_NULL_ARGUMENT
        );
        // A misaligned state.
        let misaligned = (&mut *state as *mut otaseal_verifier)
            .cast::<u8>()
            .add(1)
            .cast::<otaseal_verifier>();
        assert_eq!(
            otaseal_verifier_init(
                misaligned,
                buf.as_mut_ptr(),
                buf.len(),
                &EMPTY_TRUST,
                ptr::null()
            ),
            OTASEAL_ERR_BAD_ARGUMENT
        );
        // A buffer length past PTRDIFF_MAX.
        assert_eq!(
            otaseal_verifier_init(
                &mut *state,
                buf.as_mut_ptr(),
                usize::MAX,
                &EMPTY_TRUST,
                ptr::null()
            ),
            OTASEAL_ERR_BAD_ARGUMENT
        );
        // Anchors: a NULL array with a length, an entry NULL with a length.
        let trust = otaseal_trust {
            roots_len: 1,
            ..EMPTY_TRUST
        };
        assert_eq!(
            init(&mut state, &mut buf, &trust, None),
            OTASEAL_ERR_NULL_ARGUMENT
        );
        let entries = [otaseal_bytes {
            ptr: ptr::null(),
            len: 5,
        }];
        let trust = otaseal_trust {
            keys: entries.as_ptr(),
            keys_len: 1,
            ..EMPTY_TRUST
        };
        assert_eq!(
            init(&mut state, &mut buf, &trust, None),
            OTASEAL_ERR_NULL_ARGUMENT
        );
    }
    // Unknown flag, suite and digest bits; an unknown digest policy; a
    // hardware id that is not UTF-8.
    let bad_policies = [
        otaseal_policy {
            flags: 1 << 7,
            ..policy()
        },
        otaseal_policy {
            required_suites: 1 << 8,
            ..policy()
        },
        otaseal_policy {
            require_timestamp: 1 << 12,
            ..policy()
        },
        otaseal_policy {
            digest_policy: OTASEAL_DIGESTS_FAMILIES,
            digest_families: 0,
            ..policy()
        },
        otaseal_policy {
            digest_policy: OTASEAL_DIGESTS_FAMILIES,
            digest_families: 1 << 5,
            ..policy()
        },
        otaseal_policy {
            digest_policy: 9,
            ..policy()
        },
        otaseal_policy {
            hw_id: b"\xff\xfe".as_ptr(),
            hw_id_len: 2,
            ..policy()
        },
    ];
    for p in bad_policies {
        assert_eq!(
            init(&mut state, &mut buf, &EMPTY_TRUST, Some(&p)),
            OTASEAL_ERR_BAD_ARGUMENT,
            "{p:?}"
        );
        // A failed init leaves the state dead.
        // SAFETY: valid state and data pointers.
        let st = unsafe {
            otaseal_verifier_update(&mut *state, [0u8].as_ptr(), 1, None, ptr::null_mut())
        };
        assert_eq!(st, OTASEAL_ERR_NOT_INITIALIZED);
    }
}

#[test]
fn anchors_are_checked() {
    let mut buf = vec![0u8; otaseal_buffer_size(4096)];
    let mut state = zeroed_state();
    let garbage = [0x30u8, 0x03, 0x02, 0x01, 0x00];
    let roots = [otaseal_bytes {
        ptr: garbage.as_ptr(),
        len: garbage.len(),
    }];
    let trust = otaseal_trust {
        roots: roots.as_ptr(),
        roots_len: 1,
        ..EMPTY_TRUST
    };
    assert_eq!(
        init(&mut state, &mut buf, &trust, None),
        OTASEAL_ERR_ANCHOR_MALFORMED
    );
    let der = p256_root_der();
    let many = [otaseal_bytes {
        ptr: der.as_ptr(),
        len: der.len(),
    }; OTASEAL_MAX_ROOTS + 1];
    let trust = otaseal_trust {
        roots: many.as_ptr(),
        roots_len: many.len(),
        ..EMPTY_TRUST
    };
    assert_eq!(
        init(&mut state, &mut buf, &trust, None),
        OTASEAL_ERR_TOO_MANY_ANCHORS
    );
    let trust = otaseal_trust {
        roots_len: OTASEAL_MAX_ROOTS,
        ..trust
    };
    assert_eq!(init(&mut state, &mut buf, &trust, None), OTASEAL_OK);
}

#[test]
fn dead_moved_and_finished_states_are_refused() {
    let mut buf = vec![0u8; otaseal_buffer_size(4096)];
    let mut state = zeroed_state();
    // SAFETY (all calls): valid pointers; the states are what is tested.
    unsafe {
        assert_eq!(
            otaseal_verifier_update(ptr::null_mut(), ptr::null(), 0, None, ptr::null_mut()),
            OTASEAL_ERR_NULL_ARGUMENT
        );
        assert_eq!(
            otaseal_verifier_finish(&mut *state, ptr::null_mut()),
            OTASEAL_ERR_NOT_INITIALIZED
        );
        assert_eq!(init(&mut state, &mut buf, &EMPTY_TRUST, None), OTASEAL_OK);
        // NULL data with a length; NULL data with none is fine.
        assert_eq!(
            otaseal_verifier_update(&mut *state, ptr::null(), 3, None, ptr::null_mut()),
            OTASEAL_ERR_NULL_ARGUMENT
        );
        assert_eq!(
            otaseal_verifier_update(&mut *state, ptr::null(), 0, None, ptr::null_mut()),
            OTASEAL_OK
        );
        // A copy at another address is not the state.
        let mut copy = zeroed_state();
        ptr::copy_nonoverlapping(&*state, &mut *copy, 1);
        assert_eq!(
            otaseal_verifier_update(&mut *copy, [0u8].as_ptr(), 1, None, ptr::null_mut()),
            OTASEAL_ERR_NOT_INITIALIZED
        );
        // Finishing an incomplete package reports it; the state is then dead.
        let mut sv = 77u64;
        assert_eq!(
            otaseal_verifier_finish(&mut *state, &mut sv),
            OTASEAL_ERR_CONTAINER_TRUNCATED
        );
        assert_eq!(sv, 77, "written only on success");
        assert_eq!(
            otaseal_verifier_finish(&mut *state, &mut sv),
            OTASEAL_ERR_NOT_INITIALIZED
        );
    }
}

#[test]
fn too_small_a_buffer_is_reported() {
    let package = fixture("golden/p256-sm2.ota");
    let der = p256_root_der();
    let roots = [otaseal_bytes {
        ptr: der.as_ptr(),
        len: der.len(),
    }];
    let trust = otaseal_trust {
        roots: roots.as_ptr(),
        roots_len: 1,
        ..EMPTY_TRUST
    };
    let mut buf = vec![0u8; 1024];
    let mut state = zeroed_state();
    assert_eq!(init(&mut state, &mut buf, &trust, None), OTASEAL_OK);
    // SAFETY: valid pointers.
    let st = unsafe {
        otaseal_verifier_update(
            &mut *state,
            package.as_ptr(),
            package.len(),
            None,
            ptr::null_mut(),
        )
    };
    assert_eq!(code(st), "buffer-too-small");
    // An error is final.
    // SAFETY: valid pointers.
    let again =
        unsafe { otaseal_verifier_update(&mut *state, package.as_ptr(), 1, None, ptr::null_mut()) };
    assert_eq!(again, st);
}
