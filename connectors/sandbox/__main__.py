import argparse
import logging
import os

from connectors.sandbox.server import SandboxServer


def main() -> None:
    parser = argparse.ArgumentParser(description="The RetailOps sandbox partner.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--latency-ms", type=float, default=0)
    parser.add_argument("--error-rate", type=float, default=0.0)
    parser.add_argument("--verbose", action="store_true")
    parser.add_argument("--returns-api-url", default="",
                        help="The app's address: the web shop asks it for return authorisations of some shipments, "
                             "with the token in the environment variable SANDBOX_RETURNS_TOKEN.")
    parser.add_argument("--returns-every", type=int, default=5, help="Every N-th shipment comes back (default 5).")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s sandbox %(message)s")
    server = SandboxServer((args.host, args.port), verbose=args.verbose)
    server.state.configure({"latency_ms": args.latency_ms, "error_rate": args.error_rate})
    token = os.environ.get("SANDBOX_RETURNS_TOKEN", "")
    if args.returns_api_url and token:
        server.state.configure({"returns": {"api_url": args.returns_api_url, "token": token, "partner": "web",
                                            "every": args.returns_every}})
    print(f"Sandbox partner listening on http://{args.host}:{server.server_address[1]}/", flush=True)
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
