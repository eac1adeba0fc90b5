"""`appliance agent list|pause|resume` and `appliance recording pause|resume`: asked of the running daemon."""
from __future__ import annotations

import getpass
import json
import os
import sys

EXIT_FAILED, EXIT_NOT_RUNNING = 1, 3


def operator() -> str:
    """Who runs the command, for the audit of PCI pauses (the user behind sudo when there is one)."""
    return os.environ.get("SUDO_USER") or getpass.getuser()


def ask(cfg, command: str, args: dict | None = None) -> tuple[int, dict]:
    from appliance.ops.control import DaemonNotRunning, request
    try:
        reply = request(cfg.control_socket, command, args=args or {})
    except DaemonNotRunning as exc:
        print(f"appliance: {exc}", file=sys.stderr)
        return EXIT_NOT_RUNNING, {}
    if "error" in reply:
        print(f"appliance: {reply['error']}", file=sys.stderr)
        return EXIT_FAILED, reply
    return 0, reply


def cmd_agent(args) -> int:
    cfg = args.load(args)
    if args.agent_command == "list":
        code, reply = ask(cfg, "agent_list")
    elif args.agent_command == "pause":
        code, reply = ask(cfg, "agent_pause", {"name": args.name, "reason": args.reason})
    else:
        code, reply = ask(cfg, "agent_resume", {"name": args.name})
    if code:
        return code
    if args.json:
        print(json.dumps(reply, indent=2))
        return 0
    for a in reply.get("agents", []):
        extra = f"  {a['reason']}" if a.get("reason") else ""
        call = f"  call {a['call_key']}" if a.get("call_key") else ""
        print(f"{a['name']:<16} {a['state']:<11} {a.get('headset', ''):<16} {','.join(a.get('queues', []))}"
              f"{call}{extra}")
    return 0


def cmd_recording_pause(args, pause: bool) -> int:
    """PCI pause: the recording of the call is written as silence until resumed; who and when are kept."""
    from appliance.config import ConfigError, load_config
    try:
        cfg = load_config(args.config)
    except ConfigError as exc:
        print(f"config error: {exc}", file=sys.stderr)
        return 2
    code, reply = ask(cfg, "recording_pause" if pause else "recording_resume",
                      {"call": args.call, "by": f"control:{operator()}"})
    if code:
        return code
    state = "paused" if reply.get("paused") else "recording"
    print(f"{args.call}: {state}" + ("" if reply.get("changed") else " (it already was)"))
    return 0


def recording_main(argv: list[str]) -> int:
    """`appliance recording ...`: the segment tools of appliance.audio.tools plus pause/resume here."""
    from appliance.audio.tools import recording_main as tools_main
    return tools_main(argv, extra=_add_pause_parsers)


def _add_pause_parsers(rsub) -> None:
    from appliance.config import DEFAULT_CONFIG_PATH
    for name, pause, text in (("pause", True, "PCI pause: write the call's recording as silence until resumed"),
                              ("resume", False, "end a PCI pause")):
        p = rsub.add_parser(name, help=text + " (asks the running daemon; who and when are kept)")
        p.add_argument("--call", required=True, metavar="KEY", help="the call's key (appliance status lists them)")
        p.add_argument("--config", default=DEFAULT_CONFIG_PATH, metavar="FILE")
        p.set_defaults(func=lambda args, x=pause: cmd_recording_pause(args, x))
    from appliance.store_commands import cmd_recording_reoffer
    p = rsub.add_parser("reoffer", help="offer segments the central refused, or whose file was missing, again "
                                        "(after fixing the cause; `appliance status` lists them)")
    p.add_argument("--call", action="append", default=[], metavar="KEY", help="the call's key (repeatable)")
    p.add_argument("--all", action="store_true", help="every refused or missing segment")
    p.add_argument("--config", default=DEFAULT_CONFIG_PATH, metavar="FILE")
    p.set_defaults(func=cmd_recording_reoffer)


def add_parsers(sub, add_config, load) -> None:
    p = sub.add_parser("agent", help="the site's agents: list, pause, resume (asks the running daemon)")
    asub = p.add_subparsers(dest="agent_command", required=True)
    for name, text in (("list", "every agent with state, headset, queues and call"),
                       ("pause", "no calls for this agent until resumed (after the current call)"),
                       ("resume", "the agent takes calls again")):
        a = asub.add_parser(name, help=text)
        if name != "list":
            a.add_argument("name", help="the agent's name (agent = in its [[headset]])")
        if name == "pause":
            a.add_argument("--reason", default="", help="shown in status and to the CRM")
        a.add_argument("--json", action="store_true")
        add_config(a)
        a.set_defaults(func=cmd_agent, load=load)
