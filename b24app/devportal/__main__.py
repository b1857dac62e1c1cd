"""Run the emulator from the command line: python -m b24app.devportal --help."""

from __future__ import annotations

import argparse
import threading


def main(argv: list[str] | None = None) -> int:
    """Start the OAuth server and a portal, print their URLs and block until interrupted."""
    from . import DevPortal

    parser = argparse.ArgumentParser(prog="python -m b24app.devportal", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--oauth-port", type=int, default=8702)
    parser.add_argument("--portal-port", type=int, default=8701)
    parser.add_argument("--app-url", default="http://127.0.0.1:8700")
    parser.add_argument("--client-id", default="local.devportal.000001")
    parser.add_argument("--client-secret", default="devportal-secret")
    parser.add_argument("--handler-path", default="/app")
    parser.add_argument("--install-path", default="/install")
    parser.add_argument("--scope", default="crm,placement,user_brief")
    parser.add_argument("--lang", default="ru")
    parser.add_argument("--no-seed", action="store_true", help="start with an empty CRM")
    parser.add_argument("--limits", action="store_true", help="enforce the REST limits")
    args = parser.parse_args(argv)

    emu = DevPortal(seed=not args.no_seed, limits=args.limits, lang=args.lang)
    emu.register_app(
        args.client_id,
        args.client_secret,
        args.app_url,
        handler_path=args.handler_path,
        install_path=args.install_path,
        scope=args.scope,
    )
    emu.start(host=args.host, oauth_port=args.oauth_port, portal_port=args.portal_port)
    print(f"OAuth server: {emu.oauth_url}", flush=True)
    print(f"Portal:       {emu.portal.url}  (member_id {emu.portal.member_id})", flush=True)
    print(f"App:          {args.app_url}  client_id {args.client_id}", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        emu.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
