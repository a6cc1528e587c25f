"""Contacts from a CSV file: columns mapped by their header names, every row checked, then
written all together or not at all (docs/contacts.md has the columns and the rules).

A row is matched to an existing contact by phone, else by e-mail, so uploading the same file
again updates what changed and creates nothing twice. A dry run answers the same report as
the real run (what would be created, updated or left as it is, and every problem) and writes
nothing. The real run holds the workspace's lock from the matching to the commit, so two
imports of one file run one after the other and the second finds the first's contacts.
"""

from __future__ import annotations

import csv
import io
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field

from pydantic import EmailStr, TypeAdapter, ValidationError
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from intuitivus_flow.contacts.exceptions import ContactImportRejected, ContactImportTooLarge
from intuitivus_flow.contacts.models import ConsentChannel, ConsentSource, Contact, OptIn
from intuitivus_flow.contacts.repository import ContactRepository
from intuitivus_flow.contacts.schemas import (
    MAX_ATTRIBUTES_KEYS,
    MAX_TAGS,
    ImportProblem,
    ImportReport,
    ImportRow,
    normalize_phone,
    normalize_tags,
)
from intuitivus_flow.contacts.service import change_consent, set_tags
from intuitivus_flow.events import catalog
from intuitivus_flow.events import service as events
from intuitivus_flow.identity.principal import Principal
from intuitivus_flow.identity.scopes import Scope
from intuitivus_flow.kit.errors import Conflict
from intuitivus_flow.workspaces.repository import lock_workspace

MAX_BYTES = 5 * 1024 * 1024
# The real run writes in the request, holding the workspace lock: the row limit keeps that
# short (docs/contacts.md has the measured times).
MAX_ROWS = 10_000
MAX_REPORTED = 1000
PREVIEW_ROWS = 200
LOOKUP_CHUNK = 500
# Header (lower case, spaces and dashes as underscores) -> field. Documented in docs/contacts.md.
COLUMNS: dict[str, str] = {
    "name": "name",
    "full_name": "name",
    "phone": "phone",
    "phone_number": "phone",
    "mobile": "phone",
    "whatsapp": "phone",
    "email": "email",
    "e_mail": "email",
    "email_address": "email",
    "tags": "tags",
    "whatsapp_opt_in": "whatsapp_opt_in",
    "opt_in": "whatsapp_opt_in",
    "email_opt_in": "email_opt_in",
    "opt_in_reason": "opt_in_reason",
    "consent_reason": "opt_in_reason",
}
ATTRIBUTE_PREFIXES = ("attr.", "attribute.", "attributes.")
_ATTRIBUTE_KEY = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_\-. ]{0,63}$")
_YES = frozenset({"opted_in", "yes", "y", "true", "1", "in", "sim", "si"})
_NO = frozenset({"opted_out", "no", "n", "false", "0", "out", "nao", "não"})
_TAG_SEPARATORS = re.compile(r"[\s,;|]+")
_EMAIL = TypeAdapter(EmailStr)
_CONSENT_FIELDS = (
    ("whatsapp_opt_in", ConsentChannel.whatsapp),
    ("email_opt_in", ConsentChannel.email),
)


@dataclass(slots=True)
class Row:
    """One data row as read: only the cells the file filled (an empty cell changes nothing)."""

    line: int
    name: str | None = None
    phone: str | None = None
    email: str | None = None
    tags: list[str] = field(default_factory=list)
    attributes: dict[str, str] = field(default_factory=dict)
    consent: dict[ConsentChannel, OptIn] = field(default_factory=dict)
    reason: str = ""


@dataclass(slots=True)
class Plan:
    """What the file does to the workspace: a target per row (None: create)."""

    rows: list[Row]
    targets: dict[int, Contact | None]
    errors: list[ImportProblem]
    warnings: list[ImportProblem]
    columns: dict[str, str]


@dataclass(slots=True)
class Header:
    columns: dict[str, str]  # header as written -> field (or `attr:<key>`)
    positions: list[tuple[int, str, str]]  # (cell index, header as written, field)


async def import_csv(
    session: AsyncSession,
    principal: Principal,
    *,
    data: bytes,
    file_name: str,
    dry_run: bool,
    extra_tags: Sequence[str] = (),
) -> ImportReport:
    """Check every row of the CSV `data`; unless `dry_run`, write them all in the caller's
    transaction. Over the limits: `ContactImportTooLarge` (413). Unreadable file or wrong
    columns: `ContactImportRejected` (422) naming them. A real run with bad rows:
    `ContactImportRejected` with every problem, and nothing written; a dry run reports them."""
    principal.require_scope(Scope.contacts_write)
    if len(data) > MAX_BYTES:
        raise ContactImportTooLarge(
            f"The file is {len(data):,} bytes; at most {MAX_BYTES:,} bytes per import"
        )
    tags = _import_tags(extra_tags)
    header, rows, errors = _read(data)
    for row in rows:
        row.tags = sorted(set(row.tags) | set(tags))
    if not dry_run:
        # Matching and writing as one step: a second import of the same file waits here and
        # then finds this one's contacts (updates, not duplicates).
        await lock_workspace(session, principal.workspace_id)
    plan = await _plan(session, principal.workspace_id, header, rows, errors)
    report = _report(plan, dry_run=dry_run)
    if dry_run:
        return report
    if not report.valid:
        raise ContactImportRejected(report)
    await _write(session, principal, plan, file_name=file_name, report=report)
    return report


def _import_tags(extra: Sequence[str]) -> list[str]:
    try:
        return normalize_tags([part for value in extra for part in _TAG_SEPARATORS.split(value)])
    except ValueError as error:
        raise ContactImportRejected.single(None, "tags", str(error)) from None


# --- reading ---------------------------------------------------------------------------------


def _read(data: bytes) -> tuple[Header, list[Row], list[ImportProblem]]:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ContactImportRejected.single(
            None, None, "The file is not UTF-8 text: save it as 'CSV UTF-8' and upload it again"
        ) from None
    if "\x00" in text:
        raise ContactImportRejected.single(None, None, "The file is not a CSV text file")
    reader = csv.reader(io.StringIO(text, newline=""), dialect=_dialect(text))
    try:
        first = next(reader, None)
        if first is None or not any(cell.strip() for cell in first):
            raise ContactImportRejected.single(
                1, None, "The file is empty: the first row must name the columns"
            )
        header = _header(first)
        rows: list[Row] = []
        errors: list[ImportProblem] = []
        while True:
            start = reader.line_num + 1  # a quoted cell may span lines: the row's first one
            cells = next(reader, None)
            if cells is None:
                break
            if not any(cell.strip() for cell in cells):
                continue
            if len(rows) >= MAX_ROWS:
                raise ContactImportTooLarge(f"At most {MAX_ROWS:,} contacts per import")
            rows.append(_row(start, cells, header, len(first), errors))
    except csv.Error as error:
        raise ContactImportRejected.single(
            reader.line_num, None, f"The CSV cannot be read here: {error}"
        ) from None
    return header, rows, errors


def _dialect(text: str) -> type[csv.Dialect]:
    """Comma-separated, or the semicolons and tabs spreadsheets write in many locales (read
    from the header line)."""
    first_line = text.split("\n", 1)[0]
    counts = {separator: first_line.count(separator) for separator in (",", ";", "\t")}
    separator = max(counts, key=lambda key: counts[key])
    if counts[separator] == 0:
        separator = ","

    class Dialect(csv.excel):
        delimiter = separator

    return Dialect


def _header(cells: list[str]) -> Header:
    columns: dict[str, str] = {}
    positions: list[tuple[int, str, str]] = []
    problems: list[ImportProblem] = []
    seen: dict[str, str] = {}
    for index, raw in enumerate(cells):
        written = raw.strip()
        mapped = _map_header(written)
        if mapped is None:
            if written:
                problems.append(_problem(1, written, "unknown column; " + _known_columns()))
            continue
        if mapped in seen:
            problems.append(_problem(1, written, f"the same field as column {seen[mapped]!r}"))
            continue
        seen[mapped] = written
        columns[written] = mapped
        positions.append((index, written, mapped))
    if not problems and not {"phone", "email"} & set(columns.values()):
        problems.append(_problem(1, None, "a phone or an email column is needed to match contacts"))
    if problems:
        raise ContactImportRejected.listing(problems, columns=columns)
    return Header(columns, positions)


def _map_header(written: str) -> str | None:
    lowered = written.lower()
    for prefix in ATTRIBUTE_PREFIXES:
        if lowered.startswith(prefix):
            key = written[len(prefix) :].strip()
            return f"attr:{key}" if _ATTRIBUTE_KEY.match(key) else None
    return COLUMNS.get(re.sub(r"[\s\-]+", "_", lowered))


def _known_columns() -> str:
    return "use " + ", ".join(dict.fromkeys(COLUMNS.values())) + " or attr.<name>"


def _row(
    line: int, cells: list[str], header: Header, width: int, errors: list[ImportProblem]
) -> Row:
    row = Row(line=line)
    if len(cells) > width and any(cell.strip() for cell in cells[width:]):
        errors.append(_problem(line, None, f"{len(cells)} cells, but the header has {width}"))
    keyed = False  # a phone or e-mail cell was filled (when invalid, that is the problem)
    for index, written, mapped in header.positions:
        value = cells[index].strip() if index < len(cells) else ""
        if value:
            keyed = keyed or mapped in {"phone", "email"}
            problem = _set(row, mapped, value)
            if problem:
                errors.append(_problem(line, written, problem))
    if not keyed:
        errors.append(_problem(line, None, "a phone or an email is needed to match the contact"))
    if len(row.attributes) > MAX_ATTRIBUTES_KEYS:
        errors.append(_problem(line, None, f"at most {MAX_ATTRIBUTES_KEYS} attributes"))
    return row


def _set(row: Row, mapped: str, value: str) -> str | None:
    """Put the cell's value on the row; the problem with it, if any."""
    if mapped == "name":
        if len(value) > 200:
            return "at most 200 characters"
        row.name = value
    elif mapped == "phone":
        try:
            row.phone = normalize_phone(value)
        except ValueError as error:
            return str(error)
    elif mapped == "email":
        try:
            row.email = str(_EMAIL.validate_python(value))
        except ValidationError:
            return "not an e-mail address"
    elif mapped == "tags":
        try:
            row.tags = normalize_tags(_TAG_SEPARATORS.split(value))
        except ValueError as error:
            return str(error)
    elif mapped == "opt_in_reason":
        if len(value) > 500:
            return "at most 500 characters"
        row.reason = value
    elif mapped.startswith("attr:"):
        if len(value) > 1000:
            return "at most 1000 characters"
        row.attributes[mapped.removeprefix("attr:")] = value
    else:
        channel = dict(_CONSENT_FIELDS)[mapped]
        state = _consent(value)
        if state is None:
            return "use yes or no (also opted_in, opted_out, true, false, 1, 0)"
        row.consent[channel] = state
    return None


def _consent(value: str) -> OptIn | None:
    lowered = value.lower()
    if lowered in _YES:
        return OptIn.opted_in
    if lowered in _NO:
        return OptIn.opted_out
    return None


# --- matching --------------------------------------------------------------------------------


async def _plan(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    header: Header,
    rows: list[Row],
    errors: list[ImportProblem],
) -> Plan:
    repository = ContactRepository(session, workspace_id)
    by_phone: dict[str, Contact] = {}
    by_email: dict[str, list[Contact]] = {}
    phones = sorted({row.phone for row in rows if row.phone})
    emails = sorted({row.email.lower() for row in rows if row.email})
    for chunk in _chunks(phones):
        by_phone.update((c.phone, c) for c in await repository.with_phones(chunk) if c.phone)
    for chunk in _chunks(emails):
        for contact in await repository.with_emails(chunk):
            by_email.setdefault((contact.email or "").lower(), []).append(contact)
    targets: dict[int, Contact | None] = {}
    claimed: dict[uuid.UUID, int] = {}  # contact -> the row that updates it
    first_row: dict[str, int] = {}  # a row's key -> the first row with it
    warnings: list[ImportProblem] = []
    for row in rows:
        if row.phone is None and row.email is None:
            continue  # already reported: nothing to match it by
        key = f"phone:{row.phone}" if row.phone else f"email:{(row.email or '').lower()}"
        if key in first_row:
            errors.append(_problem(row.line, _key_column(header, row), _same_as(first_row[key])))
            continue
        first_row[key] = row.line
        target, problem = _match(row, by_phone, by_email)
        if problem:
            errors.append(_problem(row.line, _key_column(header, row), problem))
            continue
        if target is not None:
            if target.id in claimed:
                errors.append(_problem(row.line, None, _same_contact(claimed[target.id])))
                continue
            claimed[target.id] = row.line
            if len(set(target.tags) | set(row.tags)) > MAX_TAGS:
                problem = f"the contact would have over {MAX_TAGS} tags"
                errors.append(_problem(row.line, None, problem))
                continue
            warnings.extend(_kept_opt_outs(row, target, header))
        targets[row.line] = target
    return Plan(rows, targets, errors, warnings, header.columns)


def _match(
    row: Row, by_phone: dict[str, Contact], by_email: dict[str, list[Contact]]
) -> tuple[Contact | None, str | None]:
    """The contact the row updates (None: a new one), or why the row cannot be matched."""
    if row.phone and row.phone in by_phone:
        return by_phone[row.phone], None
    found = by_email.get((row.email or "").lower(), []) if row.email else []
    if row.phone:
        # A contact known by e-mail alone gets the phone; one with another phone is another
        # person sharing an address (a family, a company inbox): the row creates a contact.
        phoneless = [contact for contact in found if contact.phone is None]
        return (phoneless[0], None) if len(phoneless) == 1 else (None, None)
    if len(found) > 1:
        return None, f"{len(found)} contacts have this email; add their phone to choose one"
    return (found[0] if found else None), None


def _kept_opt_outs(row: Row, target: Contact, header: Header) -> list[ImportProblem]:
    """An import never opts a contact back in after they opted out: only the contact's own
    request, recorded by a person with its reason, does (docs/contacts.md)."""
    kept = []
    for mapped, channel in _CONSENT_FIELDS:
        wanted = row.consent.get(channel)
        if wanted is OptIn.opted_in and target.consent(channel) is OptIn.opted_out:
            del row.consent[channel]
            column = next((w for w, m in header.columns.items() if m == mapped), None)
            message = "the contact opted out; an import does not opt them back in (kept out)"
            kept.append(_problem(row.line, column, message))
    return kept


def _key_column(header: Header, row: Row) -> str | None:
    wanted = "phone" if row.phone else "email"
    return next((written for written, mapped in header.columns.items() if mapped == wanted), None)


def _same_as(line: int) -> str:
    return f"the same contact as row {line}; keep one row per contact"


def _same_contact(line: int) -> str:
    return f"updates the same contact as row {line}; keep one row per contact"


# --- the report and the write ----------------------------------------------------------------


def _report(plan: Plan, *, dry_run: bool) -> ImportReport:
    counts = {"create": 0, "update": 0, "unchanged": 0}
    preview: list[ImportRow] = []
    bad = {problem.row for problem in plan.errors}  # counted as problems, not as outcomes
    for row in plan.rows:
        if row.line not in plan.targets or row.line in bad:
            continue
        target = plan.targets[row.line]
        changes = _changes(row, target)
        action = "create" if target is None else ("update" if changes else "unchanged")
        counts[action] += 1
        if len(preview) < PREVIEW_ROWS:
            contact_id = target.id if target is not None else None
            preview.append(
                ImportRow(row=row.line, action=action, contact_id=contact_id, changes=changes)
            )
    ordered = sorted(plan.errors, key=lambda problem: problem.row)
    return ImportReport(
        dry_run=dry_run,
        valid=not plan.errors,
        rows=len(plan.rows),
        created=counts["create"],
        updated=counts["update"],
        unchanged=counts["unchanged"],
        columns=plan.columns,
        errors=ordered[:MAX_REPORTED],
        errors_total=len(plan.errors),
        warnings=plan.warnings[:MAX_REPORTED],
        preview=preview,
    )


def _changes(row: Row, target: Contact | None) -> list[str]:
    """The fields the row sets (create) or changes (update)."""
    changes = []
    current = target or Contact(name="", phone=None, email=None, attributes={}, tag_rows=[])
    for name in ("name", "phone", "email"):
        value = getattr(row, name)
        if value is not None and value != getattr(current, name):
            changes.append(name)
    if set(row.tags) - set(current.tags):
        changes.append("tags")
    if any(current.attributes.get(key) != value for key, value in row.attributes.items()):
        changes.append("attributes")
    for mapped, channel in _CONSENT_FIELDS:
        wanted = row.consent.get(channel)
        if wanted is not None and wanted != (current.consent(channel) or OptIn.unknown):
            changes.append(mapped)
    return changes


async def _write(
    session: AsyncSession,
    principal: Principal,
    plan: Plan,
    *,
    file_name: str,
    report: ImportReport,
) -> None:
    reason_default = f"CSV import {file_name[:200]}".strip()
    consent_changes = 0
    for row in plan.rows:
        contact = plan.targets[row.line]
        if contact is None:
            contact = Contact(
                id=uuid.uuid4(),  # the consent trail names it before the flush
                workspace_id=principal.workspace_id,
                name="",
                phone=None,
                email=None,
                attributes={},
                opt_in=OptIn.unknown,
                email_opt_in=OptIn.unknown,
                tag_rows=[],
            )
            session.add(contact)
        elif not _changes(row, contact):
            continue
        _apply(contact, row, principal.workspace_id)
        for channel, state in row.consent.items():
            consent_changes += change_consent(
                session,
                contact,
                channel,
                state,
                reason=row.reason or reason_default,
                source=ConsentSource.contact_import,
                actor=principal.actor,
            )
    try:
        await session.flush()
    except IntegrityError as exc:
        if "phone" in str(exc.orig):
            raise Conflict(
                "A contact with one of these phones was added while the import ran; "
                "nothing was imported: run it again",
                field="phone",
            ) from None
        raise
    await events.record(
        session,
        workspace_id=principal.workspace_id,
        user_id=principal.user_id,
        name=catalog.CONTACTS_IMPORTED,
        properties={
            "created": report.created,
            "updated": report.updated,
            "unchanged": report.unchanged,
            "consent_changes": consent_changes,
        },
    )


def _apply(contact: Contact, row: Row, workspace_id: uuid.UUID) -> None:
    if row.name is not None:
        contact.name = row.name
    if row.phone is not None:
        contact.phone = row.phone
    if row.email is not None:
        contact.email = row.email
    wanted = sorted(set(contact.tags) | set(row.tags))
    set_tags(contact, workspace_id, wanted)
    if row.attributes:
        contact.attributes = {**contact.attributes, **row.attributes}


def _chunks(values: Sequence[str]) -> list[Sequence[str]]:
    return [values[start : start + LOOKUP_CHUNK] for start in range(0, len(values), LOOKUP_CHUNK)]


def _problem(row: int | None, column: str | None, message: str) -> ImportProblem:
    return ImportProblem(row=row or 0, column=column, message=message)
