"""`lesiongan web`: serve the pseudo-healthy page (see README, 'Web app')."""

from __future__ import annotations

import argparse
import ipaddress
import sys
from pathlib import Path

from lesiongan.errors import InputError, LesionGANError

from .modules import add_module_paths

INSTALL_HINT = "the web app needs the 'web' extra: pip install -e '.[web]' (./setup.sh installs it)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", type=Path, default=None,
                        help="a model file to offer and preselect (default: the shipped demo model)")
    parser.add_argument("--data", type=Path, default=None, help="a folder whose volumes the page lists")
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on (default 127.0.0.1: this computer only)")
    parser.add_argument("--port", type=int, default=8080, help="port to listen on (default 8080; 0 picks a free one)")


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def binding_notice(host: str, port: int) -> list[str]:
    """What start-up says about who can reach the page."""
    where = f"http://{host}:{port}/" if port else f"http://{host}:<a free port>/"
    if is_loopback(host):
        return [f"lesiongan web: serving {where} (bound to {host}: reachable from this computer only)"]
    return [f"lesiongan web: serving {where} (bound to {host})",
            f"lesiongan web: WARNING: the page has no authentication; anyone who can reach {host} "
            "can load volumes, run models and download results. Use --host 127.0.0.1 and an SSH tunnel "
            "unless this network is trusted."]


def run(args: argparse.Namespace) -> int:
    if args.model is not None and not args.model.is_file():
        raise InputError(args.model, "no such model file")
    if args.data is not None and not args.data.is_dir():
        raise InputError(args.data, "no such folder")
    if not 0 <= args.port <= 65535:
        raise InputError("--port", f"{args.port} is not a port number")
    add_module_paths()
    try:
        from trame.app import get_server

        from .app import LesionGANWebApp
    except ImportError as error:
        raise LesionGANError(f"{INSTALL_HINT} ({error})") from error

    server = get_server("lesiongan-web", client_type="vue3")
    app = LesionGANWebApp(server, model=args.model, data=args.data)
    for line in binding_notice(args.host, args.port):
        print(line, flush=True)
    # trame also reads sys.argv for options of its own; ours are already parsed.
    sys.argv = sys.argv[:1]
    app.server.start(host=args.host, port=args.port, open_browser=False, timeout=0, show_connection_info=True)
    return 0
