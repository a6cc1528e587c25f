"""Realistic volumes for the database analysis, generated inside PostgreSQL (generate_series:
no rows cross the wire, a million rows take seconds).

The shape follows the product: four workspaces, twenty event names, contacts with
conversations and WhatsApp messages (each with the channel's message id), and a job table
where almost every job has finished (the queue proper is small), as on a live instance.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

WORKSPACES = 4


@dataclass(frozen=True, slots=True)
class Volumes:
    events: int
    contacts: int
    messages: int
    jobs: int


_FIRST_NAMES = (
    "Ana Maria Joao Pedro Lucas Julia Gabriel Laura Rafael Beatriz Mateus Sofia Carlos "
    "Helena Bruno Alice Diego Clara Felipe Marina Tiago Camila Andre Larissa Paulo Renata "
    "Marcos Patricia Rodrigo Fernanda Gustavo Aline Daniel Vitoria Eduardo Leticia "
    "Vinicius Isabela Leonardo Mariana Thiago Bianca Ricardo Natalia Igor Carolina Samuel "
    "Priscila Otavio Luana"
)
_SURNAMES = (
    "Silva Santos Oliveira Souza Rodrigues Ferreira Alves Pereira Lima Gomes Costa "
    "Ribeiro Martins Carvalho Almeida Lopes Soares Fernandes Vieira Barbosa Rocha Dias "
    "Nascimento Andrade Moreira Nunes Marques Machado Mendes Freitas Cardoso Ramos "
    "Goncalves Santana Teixeira Araujo Pinto Correia Cavalcanti Monteiro Moura Batista "
    "Campos Castro Duarte Farias Reis Tavares Borges Miranda"
)
_FIRST = ", ".join(f"'{n}'" for n in _FIRST_NAMES.split())
_LAST = ", ".join(f"'{n}'" for n in _SURNAMES.split())

SEED = (
    """
    INSERT INTO workspaces (id, name, created_at)
    SELECT md5('ws' || g)::uuid, 'workspace ' || g, now() FROM generate_series(0, :w - 1) g
    """,
    # People's names (a first name and a surname, 2,500 pairs), an e-mail for every other one,
    # phones sharing their country code: what a contact search meets, rather than one word
    # ("contact 123") that every row shares.
    f"""
    INSERT INTO contacts (id, workspace_id, name, email, phone, attributes, opt_in, updated_at,
                          created_at)
    SELECT gen_random_uuid(), md5('ws' || (g % :w))::uuid, p.first || ' ' || p.last,
           CASE WHEN g % 2 = 0 THEN lower(p.first || '.' || p.last) || g || '@example.com' END,
           '+1555' || lpad(g::text, 7, '0'), '{{}}', 'opted_in', now(),
           now() - g * interval '1 minute'
    FROM generate_series(1, :contacts) g,
         LATERAL (SELECT (ARRAY[{_FIRST}])[1 + g % 50] AS first,
                         (ARRAY[{_LAST}])[1 + (g / 50) % 50] AS last) p
    """,
    """
    INSERT INTO conversations (id, workspace_id, contact_id, channel, state, last_message_at,
                               last_message_text, updated_at, created_at)
    SELECT gen_random_uuid(), c.workspace_id, c.id, 'whatsapp',
           (ARRAY['open', 'escalated', 'closed'])[1 + (row_number() OVER () % 3)::int],
           c.created_at + (row_number() OVER () % 1000) * interval '1 minute', '', now(),
           c.created_at
    FROM contacts c
    """,
    """
    INSERT INTO conversation_messages (id, workspace_id, conversation_id, direction, author,
        kind, text, payload, channel_message_id, status, created_at)
    SELECT gen_random_uuid(), v.workspace_id, v.id, 'out', 'agent', 'text', 'hello', '{}',
           'wamid.' || md5(g::text), 'delivered', now() - g * interval '1 second'
    FROM generate_series(1, :messages) g
    JOIN (SELECT id, workspace_id, (row_number() OVER ()) - 1 AS k FROM conversations) v
      ON v.k = g % (SELECT count(*) FROM conversations)
    """,
    """
    INSERT INTO events (id, workspace_id, name, source, occurred_at, received_at, properties)
    SELECT gen_random_uuid(), md5('ws' || (g % :w))::uuid, 'event_' || ((g / :w) % 20), 'server',
           now() - g * interval '1 second', now() - g * interval '1 second' + interval '2 s',
           '{}'
    FROM generate_series(1, :events) g
    """,
    # 1 in 400 jobs waits or runs: the queue proper is small, the finished history large.
    # Campaign jobs belong to a workspace and carry the step's dedupe key.
    """
    INSERT INTO jobs (id, workspace_id, queue, kind, payload, dedupe_key, status, attempts,
                      max_attempts, run_at, trace_context, created_at, started_at, finished_at,
                      locked_until)
    SELECT gen_random_uuid(),
           CASE WHEN g % 3 = 1 THEN md5('ws' || (g % :w))::uuid END,
           (ARRAY['default', 'campaigns', 'conversations'])[1 + g % 3],
           CASE WHEN g % 3 = 1 THEN 'campaigns.step' ELSE 'demo.task' END, '{}',
           CASE WHEN g % 3 = 1 THEN 'campaign-step:' || md5((g / 1000)::text)::uuid || ':' || g
           END,
           CASE WHEN g % 400 = 0 THEN 'queued' WHEN g % 400 = 1 THEN 'running'
                ELSE 'succeeded' END,
           1, 5, now() - g * interval '1 second', '{}', now() - g * interval '1 second',
           now() - g * interval '1 second',
           CASE WHEN g % 400 > 1 THEN now() - g * interval '1 second' END,
           CASE WHEN g % 400 = 1 THEN now() + interval '5 minutes' END
    FROM generate_series(1, :jobs) g
    """,
)


async def seed(connection: AsyncConnection, volumes: Volumes) -> None:
    parameters = {
        "w": WORKSPACES,
        "events": volumes.events,
        "contacts": volumes.contacts,
        "messages": volumes.messages,
        "jobs": volumes.jobs,
    }
    for statement in SEED:
        clause = text(statement)
        used = {k: v for k, v in parameters.items() if f":{k}" in statement}
        await connection.execute(clause, used)
    await connection.execute(text("ANALYZE"))
