#!/usr/bin/env python3
"""A real SMTP server for the tests (aiosmtpd) on 127.0.0.1 and a free port.

Prints one JSON line when ready ({"ready": port}) and one per received message with the
envelope, the authenticated user, whether TLS was in use, and the raw message. Options:
  --user U --password P   require AUTH with these credentials
  --cert C --key K        offer STARTTLS with this certificate (and require it)
  --implicit-tls          speak TLS from the first byte (smtps) instead of STARTTLS
"""
import argparse
import asyncio
import json
import logging
import ssl
import sys
import warnings

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword


class Recorder:
    async def handle_DATA(self, server, session, envelope):
        print(
            json.dumps(
                {
                    "mail_from": envelope.mail_from,
                    "rcpt_tos": envelope.rcpt_tos,
                    "auth_user": session.auth_data.login.decode()
                    if isinstance(session.auth_data, LoginPassword)
                    else None,
                    "tls": server.transport.get_extra_info("ssl_object") is not None,
                    "data": envelope.original_content.decode("utf-8", "replace"),
                }
            ),
            flush=True,
        )
        return "250 2.0.0 Ok: queued"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--user")
    parser.add_argument("--password")
    parser.add_argument("--cert")
    parser.add_argument("--key")
    parser.add_argument("--implicit-tls", action="store_true")
    args = parser.parse_args()
    # Plain-text AUTH is what the tests exercise; failed handshakes are expected noise.
    warnings.filterwarnings("ignore", message="Requiring AUTH while not requiring TLS")
    logging.getLogger("mail.log").setLevel(logging.CRITICAL)

    context = None
    if args.cert:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(args.cert, args.key)

    def authenticator(server, session, envelope, mechanism, auth_data):
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login.decode() == args.user
            and auth_data.password.decode() == args.password
        )
        return AuthResult(success=ok, handled=False, auth_data=auth_data if ok else None)

    starttls = context if (context and not args.implicit_tls) else None

    def factory():
        return SMTP(
            Recorder(),
            hostname="sink.test",
            tls_context=starttls,
            require_starttls=starttls is not None,
            authenticator=authenticator if args.user else None,
            auth_required=bool(args.user),
            auth_require_tls=False,
        )

    async def serve():
        loop = asyncio.get_running_loop()
        server = await loop.create_server(
            factory, "127.0.0.1", 0, ssl=context if args.implicit_tls else None
        )
        port = server.sockets[0].getsockname()[1]
        print(json.dumps({"ready": port}), flush=True)
        async with server:
            await server.serve_forever()

    try:
        asyncio.run(serve())
    except KeyboardInterrupt:
        sys.exit(0)


if __name__ == "__main__":
    main()
