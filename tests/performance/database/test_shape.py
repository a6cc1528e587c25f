"""Index candidates from a statement's shape: equality, then range, then sort; constants as a
partial index's predicate."""

from __future__ import annotations

from intuitivus_flow.performance.database.hot_queries import HOT_QUERIES, parameter_count
from intuitivus_flow.performance.database.shape import Candidate, candidates, shapes


class TestShapes:
    def test_equality_range_and_sort_are_told_apart(self) -> None:
        (shape,) = shapes(
            "SELECT * FROM events WHERE workspace_id = $1 AND occurred_at >= $2 "
            "ORDER BY occurred_at DESC, id LIMIT $3"
        )
        assert shape.equal == ["workspace_id"]
        assert shape.ranged == ["occurred_at"]
        assert shape.sort == [("occurred_at", True), ("id", False)]

    def test_a_constant_predicate_is_not_an_index_column(self) -> None:
        (shape,) = shapes("SELECT id FROM users WHERE active = true AND email = $1")
        assert shape.equal == ["email"]
        assert shape.constant == ["active = TRUE"]

    def test_a_constant_fixed_in_every_or_branch_becomes_an_in_list(self) -> None:
        (shape,) = shapes(
            "SELECT id FROM jobs WHERE queue IN ($1) AND ((status = 'queued' AND run_at <= $2)"
            " OR (status = 'running' AND locked_until < $3)) ORDER BY run_at LIMIT 1"
        )
        assert shape.constant == ["status IN ('queued', 'running')"]
        assert shape.equal == ["queue"]
        assert shape.ranged[0] == "run_at"

    def test_a_subquery_is_its_own_block_and_aliases_resolve(self) -> None:
        found = shapes(
            "UPDATE jobs SET status = $1 WHERE id = (SELECT j.id FROM jobs AS j "
            "WHERE j.queue = $2 ORDER BY j.run_at LIMIT 1)"
        )
        inner = next(s for s in found if s.sort)
        assert inner.table == "jobs"
        assert inner.equal == ["queue"]
        assert inner.sort == [("run_at", False)]

    def test_an_unparseable_statement_has_no_shape(self) -> None:
        assert shapes("SELECT FROM WHERE (") == []


class TestCandidates:
    def test_the_plans_partial_index_on_active_users_emails(self) -> None:
        found = candidates("SELECT id FROM users WHERE active = true AND email = $1")
        assert found[0] == Candidate("users", ("email",), "active = TRUE")
        assert found[0].ddl() == (
            "CREATE INDEX CONCURRENTLY ix_users_email_partial ON users (email) WHERE active = TRUE"
        )
        # Without the predicate, the constant column joins the key instead.
        assert Candidate("users", ("email", "active"), "") in found

    def test_a_mixed_sort_keeps_the_minority_direction_in_the_index(self) -> None:
        found = candidates(
            "SELECT * FROM events WHERE workspace_id = $1 AND name = $2 "
            "ORDER BY occurred_at DESC, id LIMIT $3"
        )
        assert found[0].columns == ("workspace_id", "name", "occurred_at", "id DESC")

    def test_a_range_then_its_sort(self) -> None:
        found = candidates(
            "SELECT * FROM events WHERE received_at > $1 ORDER BY received_at, id LIMIT $2"
        )
        assert found[0].columns == ("received_at", "id")
        assert Candidate("events", ("received_at",), "") in found

    def test_every_hot_query_parses_and_names_its_parameters(self) -> None:
        for query in HOT_QUERIES:
            assert shapes(query.sql), query.name
            assert parameter_count(query.sql) >= 1, query.name


class TestSubstringSearch:
    SEARCH = (
        "SELECT count(*) FROM (SELECT contacts.id FROM contacts WHERE contacts.workspace_id = $1"
        " AND (lower(contacts.name) LIKE $2 ESCAPE $3 OR lower(contacts.email) LIKE $4 ESCAPE $5"
        " OR contacts.phone LIKE $6 ESCAPE $7) ORDER BY contacts.created_at) AS anon_1"
    )

    def test_every_branch_of_an_or_goes_into_one_trigram_index(self) -> None:
        (shape,) = shapes(self.SEARCH)
        assert shape.substring == ["lower(name)", "lower(email)", "phone"]
        trigram = [c for c in candidates(self.SEARCH) if c.trigram]
        assert trigram == [
            Candidate(
                "contacts",
                ("lower(name) gin_trgm_ops", "lower(email) gin_trgm_ops", "phone gin_trgm_ops"),
                method="gin",
            )
        ]
        assert trigram[0].requires == "pg_trgm"
        assert trigram[0].ddl() == (
            "CREATE INDEX CONCURRENTLY ix_contacts_name_email_phone_trgm ON contacts USING gin "
            "(lower(name) gin_trgm_ops, lower(email) gin_trgm_ops, phone gin_trgm_ops)"
        )

    def test_a_prefix_pattern_or_an_or_with_another_kind_of_branch_is_no_trigram(self) -> None:
        assert not any(c.trigram for c in candidates("SELECT id FROM t WHERE a LIKE 'ab%'"))
        assert not any(c.trigram for c in candidates("SELECT id FROM t WHERE a LIKE $1 OR b = $2"))
        (found,) = [c for c in candidates("SELECT id FROM t WHERE a ILIKE '%ab%'") if c.trigram]
        assert found.columns == ("a gin_trgm_ops",)

    def test_a_btree_candidate_needs_no_extension(self) -> None:
        assert Candidate("users", ("email",)).requires is None
