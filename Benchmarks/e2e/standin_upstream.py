"""A stand-in PostgreSQL upstream for the memory and descriptor figures: it speaks only the
startup phase (SSLRequest -> 'S' -> TLS -> StartupMessage -> AuthenticationOk, ReadyForQuery)
and then holds the connection. A real backend per session would cost far more than the proxy
being measured. Usage: standin_upstream.py PORT CERT KEY (prints "ready" when listening)."""
import asyncio
import resource
import ssl
import struct
import sys

SSL_REQUEST = struct.pack("!ii", 8, 80877103)
LOGGED_IN = b"R" + struct.pack("!ii", 8, 0) + b"Z" + struct.pack("!i", 5) + b"I"


async def serve(reader, writer, context):
    try:
        if await reader.readexactly(8) != SSL_REQUEST:
            return
        writer.write(b"S")
        await writer.drain()
        await writer.start_tls(context)
        length = struct.unpack("!i", await reader.readexactly(4))[0]
        await reader.readexactly(length - 4)
        writer.write(LOGGED_IN)
        await writer.drain()
        while await reader.read(65536):
            pass
    except (asyncio.IncompleteReadError, ConnectionError, ssl.SSLError):
        pass
    finally:
        writer.close()


async def main(port, cert, key):
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server = await asyncio.start_server(lambda r, w: serve(r, w, context), "127.0.0.1", port, backlog=4096)
    print("ready", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    asyncio.run(main(int(sys.argv[1]), sys.argv[2], sys.argv[3]))
