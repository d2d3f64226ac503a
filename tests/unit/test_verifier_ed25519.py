"""The stdlib verifier's own Ed25519 verification (``verify_bundle.ed25519_verifies``, RFC 8032 5.1.7).

It must accept exactly the signatures a reference implementation accepts for keys and messages a
signer makes, and refuse every change to a key, a message or a signature; a signature whose S is
not below the group order (the malleable twin of a valid one) and points that are not on the curve
are refused.
"""

from __future__ import annotations

import random

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from artifact_ledger import verify_bundle as standalone
from artifact_ledger.verify_bundle import ed25519_verifies

# RFC 8032, section 7.1, TEST 1 (the empty message) and TEST 2 (one byte).
RFC_VECTORS = [
    (
        "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
        "",
        "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
    ),
    (
        "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
        "72",
        "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00",
    ),
]


@pytest.mark.parametrize(("public", "message", "signature"), RFC_VECTORS)
def test_the_rfc_vectors_verify_and_any_changed_bit_does_not(public: str, message: str, signature: str) -> None:
    key, msg, sig = bytes.fromhex(public), bytes.fromhex(message), bytes.fromhex(signature)
    assert ed25519_verifies(key, sig, msg)
    for index in range(0, 64, 7):
        bad = bytearray(sig)
        bad[index] ^= 0x10
        assert not ed25519_verifies(key, bytes(bad), msg)
    assert not ed25519_verifies(key, sig, msg + b"\x00")
    other = bytearray(key)
    other[3] ^= 1
    assert not ed25519_verifies(bytes(other), sig, msg)


def test_the_same_answers_as_a_reference_implementation() -> None:
    rng = random.Random(8032)
    for n in range(40):
        private = Ed25519PrivateKey.generate()
        public = private.public_key().public_bytes_raw()
        message = rng.randbytes(n * 13)
        signature = private.sign(message)
        assert ed25519_verifies(public, signature, message)
        tampered = bytearray(signature)
        tampered[rng.randrange(64)] ^= 1 << rng.randrange(8)
        assert not ed25519_verifies(public, bytes(tampered), message)
        assert not ed25519_verifies(public, signature, rng.randbytes(n * 13 + 1))


def test_a_malleable_s_and_bad_points_are_refused() -> None:
    public, message, signature = (bytes.fromhex(v) for v in RFC_VECTORS[0])
    s = int.from_bytes(signature[32:], "little")
    twin = signature[:32] + (s + standalone._L).to_bytes(32, "little")  # S + L: the same point, S not reduced
    assert not ed25519_verifies(public, twin, message)
    not_a_point = (standalone._P - 1 + 3).to_bytes(32, "little")  # y >= p: no canonical encoding
    assert not ed25519_verifies(not_a_point, signature, message)
    assert not ed25519_verifies(public, not_a_point + signature[32:], message)
    assert not ed25519_verifies(public[:31], signature, message)
    assert not ed25519_verifies(public, signature[:63], message)
