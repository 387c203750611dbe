"""Field encryption and decryption throughput: our field, raw AESGCM, the peer library.

The same values go through three implementations in the same process:

- ``ours``: ``Case.family_name`` (a real ``EncryptedCharField`` on the model, so its
  associated data is ``cases.case.family_name``): ``get_prep_value`` and ``from_db_value``;
- ``raw AESGCM``: the floor - encode, a fresh 96-bit nonce, ``AESGCM.encrypt`` with the same
  associated data; ``AESGCM.decrypt`` and decode. No key lookup, no stored form;
- ``raw AESGCM + stored form``: the floor for our stored form (``len(key id) | key id | nonce |
  ciphertext+tag``, a binary column): the same calls plus what reading and writing that form
  needs anyway - decrypting: the nonce's offset from the first byte, slicing nonce and
  ciphertext out of the value; encrypting: prepending the header and the nonce. Still no key
  lookup (the one key is known, where ``ours`` finds it by the header among several). The
  difference between this and ``ours`` is our code's own overhead: the key lookup, the calls
  through the field and the keyring, the ``None`` check;
- ``peer``: ``encrypted_fields.fields.EncryptedTextField`` of django-fernet-encrypted-fields
  (Fernet: AES-128-CBC + HMAC-SHA256, keys derived from ``SECRET_KEY`` and ``SALT_KEY``), same
  two methods. Its one-off PBKDF2 key derivation is done before timing.

Each operation runs ``repeat`` times over all values, the operations taking turns (so a burst
of other work on this shared machine hits all of them alike); the fastest run counts, as
``timeit`` recommends: slower runs measure the interference, not the code.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.db import connection
from django.test.utils import override_settings

SAMPLES = [
    "Kovalenko", "Al-Haddad", "Oleksandra Marchenko", "Mohammadi", "Yıldız",
    "Hauptstraße 12, 56068 Koblenz", "Asthma, Spray im Ranzen",
    "Familie wohnt vorübergehend in der Gemeinschaftsunterkunft.", "ukrainisch", "A2",
    "Mutter erreichbar vormittags, Dolmetschung über Sprachmittlerpool.",
]  # fmt: skip


def _time_all(ops: dict[str, dict[str, Callable[[], Any]]], repeat: int) -> dict[str, Any]:
    """The fastest of ``repeat`` runs of every operation, the operations taking turns."""
    best: dict[str, dict[str, float]] = {name: {} for name in ops}
    for _ in range(repeat):
        for name, by_op in ops.items():
            for op, fn in by_op.items():
                started = time.perf_counter()
                fn()
                seconds = time.perf_counter() - started
                best[name][op] = min(seconds, best[name].get(op, seconds))
    return best


def run(*, values: int = 20_000, repeat: int = 5, seed: int = 7) -> dict[str, Any]:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    from encrypted_fields.fields import EncryptedTextField as PeerTextField

    from cases.models import Case

    rng = random.Random(seed)
    plain = [f"{rng.choice(SAMPLES)} {rng.randint(1, 999)}" for _ in range(values)]

    ours = Case._meta.get_field("family_name")
    tokens = [ours.get_prep_value(v) for v in plain]  # type: ignore[union-attr]
    assert [ours.from_db_value(t, None, connection) for t in tokens[:50]] == plain[:50]  # type: ignore[union-attr]

    aes = AESGCM(os.urandom(32))
    aad = ours.context.encode()  # type: ignore[union-attr]
    sealed = []
    for v in plain:
        nonce = os.urandom(12)
        sealed.append((nonce, aes.encrypt(nonce, v.encode(), aad)))

    peer = PeerTextField()
    salt = getattr(settings, "SALT_KEY", None) or ["ankommen-bench-salt"]
    with override_settings(SALT_KEY=salt):
        peer_tokens = [peer.get_prep_value(v) for v in plain]  # derives its keys once
    assert [peer.from_db_value(t, None, connection) for t in peer_tokens[:50]] == plain[:50]

    def raw_encrypt() -> None:
        for v in plain:
            nonce = os.urandom(12)
            aes.encrypt(nonce, v.encode(), aad)

    def raw_decrypt() -> None:
        for nonce, ct in sealed:
            aes.decrypt(nonce, ct, aad).decode()

    header = b"\x02k1"
    stored = [header + nonce + ct for nonce, ct in sealed]

    def stored_encrypt() -> None:
        for v in plain:
            nonce = os.urandom(12)
            header + nonce + aes.encrypt(nonce, v.encode(), aad)

    def stored_decrypt() -> None:
        for value in stored:
            start = value[0] + 1
            body = start + 12
            aes.decrypt(value[start:body], value[body:], aad).decode()

    prep, load = ours.get_prep_value, ours.from_db_value  # type: ignore[union-attr]
    peer_prep, peer_load = peer.get_prep_value, peer.from_db_value

    timings = _time_all(
        {
            "ours": {
                "encrypt": lambda: [prep(v) for v in plain],
                "decrypt": lambda: [load(t, None, connection) for t in tokens],
            },
            "raw AESGCM": {"encrypt": raw_encrypt, "decrypt": raw_decrypt},
            "raw AESGCM + stored form": {"encrypt": stored_encrypt, "decrypt": stored_decrypt},
            "peer (django-fernet-encrypted-fields)": {
                "encrypt": lambda: [peer_prep(v) for v in plain],
                "decrypt": lambda: [peer_load(t, None, connection) for t in peer_tokens],
            },
        },
        repeat,
    )
    result: dict[str, Any] = {"values": values, "repeat": repeat, "implementations": {}}
    for name, ops in timings.items():
        result["implementations"][name] = {
            f"{op}_us_per_value": round(seconds / values * 1e6, 3) for op, seconds in ops.items()
        } | {f"{op}_per_second": round(values / seconds) for op, seconds in ops.items()}
    impl = result["implementations"]
    ours_dec = impl["ours"]["decrypt_us_per_value"]
    result["decrypt_ratio_to_raw"] = round(ours_dec / impl["raw AESGCM"]["decrypt_us_per_value"], 2)
    result["decrypt_ratio_to_stored_floor"] = round(
        ours_dec / impl["raw AESGCM + stored form"]["decrypt_us_per_value"], 2
    )
    result["encrypt_ratio_to_raw"] = round(
        impl["ours"]["encrypt_us_per_value"] / impl["raw AESGCM"]["encrypt_us_per_value"], 2
    )
    result["decrypt_speedup_vs_peer"] = round(
        impl["peer (django-fernet-encrypted-fields)"]["decrypt_us_per_value"] / ours_dec, 2
    )
    return result
