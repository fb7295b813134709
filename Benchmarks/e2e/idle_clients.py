"""Opens N PostgreSQL sessions through a proxy and holds them: each sends a StartupMessage and
waits for ReadyForQuery. Prints "open <n> errors <e>" once all have answered, then waits for a
line on stdin before closing them. Usage: idle_clients.py PORT N USER DB."""
import asyncio
import resource
import struct
import sys


def startup(user, database):
    body = struct.pack("!i", 196608) + b"user\0" + user.encode() + b"\0database\0" + database.encode() + b"\0\0"
    return struct.pack("!i", len(body) + 4) + body


async def session(port, message, ready, errors, holders):
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(message)
        await writer.drain()
        seen = b""
        while not seen.endswith(b"Z\x00\x00\x00\x05I"):
            chunk = await reader.read(4096)
            if not chunk:
                raise ConnectionError("closed: %r" % seen[:200])
            seen += chunk
        holders.append(writer)
        ready.append(1)
    except Exception as error:  # counted and reported, never fatal to the run
        errors.append(repr(error))


async def main(port, count, user, database):
    message = startup(user, database)
    ready, errors, holders = [], [], []
    semaphore = asyncio.Semaphore(200)

    async def limited():
        async with semaphore:
            await session(port, message, ready, errors, holders)

    await asyncio.gather(*(limited() for _ in range(count)))
    print("open %d errors %d %s" % (len(ready), len(errors), errors[:3]), flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    for writer in holders:
        writer.close()


if __name__ == "__main__":
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    asyncio.run(main(int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]))
