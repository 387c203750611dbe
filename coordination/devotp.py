"""Print the current second-factor code of a demo user (development only).

``python -m coordination.devotp admin`` reads the user's confirmed TOTP device (``seed_demo``
gives the demo ``admin`` one) and prints the code an authenticator app would show now. It
refuses with DEBUG off: in production, codes come from the user's own device.
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any


def current_code(device: Any) -> str:
    """The code the device's app shows now, or the next one if the current one was used
    (django-otp accepts each time step once; a tolerance of one step lets the next pass)."""
    from django_otp.oath import TOTP

    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    totp.time = time.time()
    if device.last_t is not None and device.last_t >= totp.t():
        totp.time += device.step
    return f"{totp.token():0{device.digits}d}"


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m coordination.devotp USERNAME", file=sys.stderr)
        return 2
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "coordination.settings")
    import django

    django.setup()
    from django.conf import settings
    from django_otp.plugins.otp_totp.models import TOTPDevice

    if not settings.DEBUG:
        print("devotp is for development only (DEBUG is off).", file=sys.stderr)
        return 2
    device = (
        TOTPDevice.objects.filter(user__username=args[0], confirmed=True).order_by("id").first()
    )
    if device is None:
        print(f"{args[0]} has no confirmed TOTP device (run seed_demo).", file=sys.stderr)
        return 1
    print(current_code(device))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
