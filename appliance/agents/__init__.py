"""Agents: which headset answers which line call (a pure state machine; see machine.Agents)."""
from .actions import (AGENT_STATES, AVAILABLE, DEFAULT_WRAP_UP_S, LOGGED_OUT, ON_CALL, PAUSED, RINGING, WRAP_UP,
                      Action, AgentChanged, AnswerLine, CallAgentInfo, CallMuted, HangupLine, HeadsetConfig,
                      SetHeadset, UnknownAgent)
from .machine import Agents

__all__ = ["AGENT_STATES", "AVAILABLE", "DEFAULT_WRAP_UP_S", "LOGGED_OUT", "ON_CALL", "PAUSED", "RINGING",
           "WRAP_UP", "Action", "AgentChanged", "Agents", "AnswerLine", "CallAgentInfo", "CallMuted",
           "HangupLine", "HeadsetConfig", "SetHeadset", "UnknownAgent"]
