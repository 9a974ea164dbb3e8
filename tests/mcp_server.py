"""A small home-automation MCP server, written with the `mcp` package, for the tool tests.

Run over stdio (`python tests/mcp_server.py`) or streamable HTTP (`... http PORT`).  Its tools:
`HassTurnOff` (what Home Assistant's MCP server calls the tool), and the bad cases: one
that sleeps past any timeout, one that raises, one that kills the server mid-call.
"""

from __future__ import annotations

import os
import sys
import time

from mcp.server.mcpserver import MCPServer

server = MCPServer("home", log_level="CRITICAL")


@server.tool(name="HassTurnOff", description="Turns off a device such as the lights.")
def turn_off(name: str) -> str:
    return f"Done: the {name} are now switched off."


@server.tool(description="Waters the garden plants (slowly).")
def water_garden(minutes: int = 5) -> str:
    time.sleep(60)
    return "watered"


@server.tool(description="Opens the garage door.")
def open_garage() -> str:
    raise RuntimeError("the garage door motor is jammed")


@server.tool(description="Reboots the home router.")
def reboot_router() -> str:
    os._exit(3)  # the server dies in the middle of the call


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "http":
        server.run("streamable-http", host="127.0.0.1", port=int(sys.argv[2]))
    else:
        server.run()
