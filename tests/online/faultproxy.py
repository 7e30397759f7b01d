#!/usr/bin/python3
"""A TCP relay in front of the real S3 server (RGW) that misbehaves on
command, for the retry tests. Each new client connection takes the next
action of the script, then every later connection is relayed untouched:

  503, 500, 429  answer that HTTP status (an S3 error body) and close
  hang           read the request and never answer
  reset          close the connection without answering
  cutN           relay, but close the connection once N bytes of answers
                 (headers and bodies, all requests on it together) went
                 through: an answer broken off midway
  pass           relay to the server

Usage: faultproxy.py TARGET_PORT ACTION,ACTION,... PORT_FILE LOG_FILE
Writes its listening port to PORT_FILE, one line per connection to LOG_FILE
("<n> <action>"); runs until killed. Listens on 127.0.0.1 only.
"""

import socket
import sys
import threading

target_port = int(sys.argv[1])
script = [a for a in sys.argv[2].split(",") if a]
port_file, log_file = sys.argv[3], sys.argv[4]
lock = threading.Lock()
count = 0

BODY = (
    '<?xml version="1.0" encoding="UTF-8"?><Error><Code>{code}</Code>'
    "<Message>injected by faultproxy</Message></Error>"
)
REASONS = {"500": "Internal Server Error", "503": "Slow Down", "429": "Too Many Requests"}
CODES = {"500": "InternalError", "503": "SlowDown", "429": "TooManyRequests"}


def read_request_head(conn):
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


def pump(src, dst, limit=None):
    try:
        while True:
            chunk = src.recv(65536)
            if not chunk:
                break
            if limit is not None and len(chunk) >= limit:
                dst.sendall(chunk[:limit])
                break
            if limit is not None:
                limit -= len(chunk)
            dst.sendall(chunk)
    except OSError:
        pass
    finally:
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def handle(conn, action):
    try:
        if action in REASONS:
            read_request_head(conn)
            body = BODY.format(code=CODES[action]).encode()
            head = (
                f"HTTP/1.1 {action} {REASONS[action]}\r\nContent-Type: application/xml\r\n"
                f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
            )
            conn.sendall(head.encode() + body)
            conn.close()
        elif action == "hang":
            read_request_head(conn)
            threading.Event().wait(600)
        elif action == "reset":
            conn.close()
        else:
            upstream = socket.create_connection(("127.0.0.1", target_port))
            limit = int(action[3:]) if action.startswith("cut") else None
            threading.Thread(target=pump, args=(upstream, conn, limit), daemon=True).start()
            pump(conn, upstream)
    except OSError:
        pass


def main():
    global count
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", 0))
    srv.listen(64)
    with open(port_file, "w") as f:
        f.write(str(srv.getsockname()[1]))
    while True:
        conn, _ = srv.accept()
        with lock:
            action = script[count] if count < len(script) else "pass"
            count += 1
            with open(log_file, "a") as f:
                f.write(f"{count} {action}\n")
        threading.Thread(target=handle, args=(conn, action), daemon=True).start()


main()
