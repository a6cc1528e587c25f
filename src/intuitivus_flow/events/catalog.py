"""Names of the events the server records. Keep docs/events.md in step (a test checks it).

Naming: `<object>.<past-tense verb>`, lower snake case, e.g. `member.invited`.
"""

from __future__ import annotations

import re

EVENT_NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,39}(\.[a-z][a-z0-9_]{0,39}){1,3}$")

WORKSPACE_CREATED = "workspace.created"
USER_SIGNED_UP = "user.signed_up"
USER_LOGGED_IN = "user.logged_in"
USER_LOGGED_OUT = "user.logged_out"
USER_PASSWORD_CHANGED = "user.password_changed"
SESSION_REUSE_DETECTED = "session.reuse_detected"
MEMBER_INVITED = "member.invited"
MEMBER_JOINED = "member.joined"
MEMBER_DEACTIVATED = "member.deactivated"
MEMBER_REACTIVATED = "member.reactivated"
MEMBER_ROLE_CHANGED = "member.role_changed"
INVITATION_REVOKED = "invitation.revoked"
API_KEY_CREATED = "api_key.created"
API_KEY_REVOKED = "api_key.revoked"
LLM_KEY_ADDED = "llm_key.added"
LLM_KEY_UPDATED = "llm_key.updated"
LLM_KEY_REMOVED = "llm_key.removed"
LLM_COMPLETED = "llm.completed"
AGENT_CREATED = "agent.created"
AGENT_UPDATED = "agent.updated"
AGENT_DELETED = "agent.deleted"
AGENT_CLONED = "agent.cloned"
AGENT_STATUS_CHANGED = "agent.status_changed"
AGENT_TASK_SUBMITTED = "agent_task.submitted"
AGENT_TASK_CANCELLED = "agent_task.cancelled"
AGENT_TASK_FINISHED = "agent_task.finished"
CREW_RUN_STARTED = "crew_run.started"
CREW_RUN_FINISHED = "crew_run.finished"

SERVER_EVENTS = frozenset(
    {
        WORKSPACE_CREATED,
        USER_SIGNED_UP,
        USER_LOGGED_IN,
        USER_LOGGED_OUT,
        USER_PASSWORD_CHANGED,
        SESSION_REUSE_DETECTED,
        MEMBER_INVITED,
        MEMBER_JOINED,
        MEMBER_DEACTIVATED,
        MEMBER_REACTIVATED,
        MEMBER_ROLE_CHANGED,
        INVITATION_REVOKED,
        API_KEY_CREATED,
        API_KEY_REVOKED,
        LLM_KEY_ADDED,
        LLM_KEY_UPDATED,
        LLM_KEY_REMOVED,
        LLM_COMPLETED,
        AGENT_CREATED,
        AGENT_UPDATED,
        AGENT_DELETED,
        AGENT_CLONED,
        AGENT_STATUS_CHANGED,
        AGENT_TASK_SUBMITTED,
        AGENT_TASK_CANCELLED,
        AGENT_TASK_FINISHED,
        CREW_RUN_STARTED,
        CREW_RUN_FINISHED,
    }
)

# Clients may not forge what only the server can witness.
RESERVED_NAMESPACES = frozenset(name.split(".", 1)[0] for name in SERVER_EVENTS)
