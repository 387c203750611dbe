"""Print a development .env (fresh secret and keys); used once by `make run`."""

from __future__ import annotations

import secrets

from coordination.crypto import generate_key


def main() -> None:
    print("# Written by `make run` for development only. Never commit this file.")
    print("DEBUG=1")
    print(f"SECRET_KEY={secrets.token_urlsafe(50)}")
    print(f"FIELD_ENCRYPTION_KEYS=dev1:{generate_key()}")
    print(f"BLIND_INDEX_KEY={generate_key()}")
    print(f"AUDIT_KEY=dev1:{generate_key()}")


if __name__ == "__main__":
    main()
