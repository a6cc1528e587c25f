"""CLV models: the published CDNOW fit from a derived summary, and the transaction reading."""

from __future__ import annotations

import csv
import json
from datetime import date
from pathlib import Path

import pytest
from click.testing import Result
from typer.testing import CliRunner

from intuitivus_flow.analytics import clv

FIXTURE = Path(__file__).parent / "fixtures" / "cdnow_sample_summary.csv"


def _cdnow_summaries() -> list[clv.CustomerSummary]:
    with FIXTURE.open() as handle:
        rows = csv.DictReader(line for line in handle if not line.startswith("#"))
        return [
            clv.CustomerSummary(
                customer_id=row["customer_id"],
                frequency=int(row["frequency"]),
                recency=int(row["recency_days"]) / 7,
                T=int(row["T_days"]) / 7,
                monetary_value=float(row["monetary_value"]),
            )
            for row in rows
        ]


@pytest.fixture(scope="module")
def cdnow() -> list[clv.CustomerSummary]:
    return _cdnow_summaries()


def _within(value: float, published: float, tolerance: float = 0.01) -> bool:
    return abs(value - published) <= tolerance * abs(published)


class TestPublishedFit:
    """Fader, Hardie and Lee (2005) and Fader and Hardie (2013) on the 1/10 CDNOW sample."""

    def test_bgnbd_matches_the_paper(self, cdnow: list[clv.CustomerSummary]) -> None:
        fitted = clv.fit_bgnbd(cdnow)
        published = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
        for name, value in published.items():
            assert _within(getattr(fitted, name), value), (name, getattr(fitted, name))
        assert fitted.log_likelihood == pytest.approx(-9582.4, abs=0.1)

    def test_gamma_gamma_matches_the_note(self, cdnow: list[clv.CustomerSummary]) -> None:
        fitted = clv.fit_gamma_gamma(cdnow)
        for name, value in {"p": 6.25, "q": 3.74, "gamma": 15.44}.items():
            assert _within(getattr(fitted, name), value), (name, getattr(fitted, name))
        assert fitted.log_likelihood == pytest.approx(-4055.9, abs=0.1)

    def test_conditional_expectation_of_hardies_excel_note(self) -> None:
        # Customer 1 of the sample (x = 2, t_x = 30.43, T = 38.86) expects 1.226 purchases
        # over the next 39 weeks with the published parameters ("Implementing the BG/NBD
        # model for customer base analysis in Excel", Fader, Hardie and Lee 2005).
        params = clv.BgNbdParams(r=0.243, alpha=4.414, a=0.793, b=2.426, log_likelihood=0)
        assert clv.expected_purchases(params, 39, 2, 30.43, 38.86) == pytest.approx(1.226, abs=5e-4)


class TestPerCustomer:
    params = clv.BgNbdParams(r=0.243, alpha=4.414, a=0.793, b=2.426, log_likelihood=0)

    def test_one_time_buyers_are_alive(self) -> None:
        # BG/NBD lets a customer drop out only right after a purchase.
        assert clv.p_alive(self.params, 0, 0, 30) == 1.0

    def test_a_long_silence_lowers_p_alive(self) -> None:
        recent = clv.p_alive(self.params, 5, 37, 38)
        silent = clv.p_alive(self.params, 5, 5, 38)
        assert 0 < silent < recent < 1
        # By hand: 1 / (1 + a/(b+x-1) * ((alpha+T)/(alpha+t_x))^(r+x)).
        expected = 1 / (1 + 0.793 / (2.426 + 4) * ((4.414 + 38) / (4.414 + 5)) ** 5.243)
        assert silent == pytest.approx(expected)

    def test_expected_spend_shrinks_towards_the_population(self) -> None:
        gg = clv.GammaGammaParams(p=6.25, q=3.74, gamma=15.44, log_likelihood=0)
        population_mean = gg.p * gg.gamma / (gg.q - 1)
        one = clv.expected_spend(gg, 1, 100.0)
        many = clv.expected_spend(gg, 20, 100.0)
        assert population_mean < one < many < 100.0
        assert one == pytest.approx((15.44 + 100) * 6.25 / (6.25 + 3.74 - 1))


class TestTransactions:
    def test_summary_by_hand(self) -> None:
        rows = clv.parse_transactions(
            "customer_id,date,amount\n"
            "a,1997-01-01,10\n"
            "a,1997-01-01,5\n"  # same day: one purchase of 15
            "a,1997-01-15,20\n"
            "a,1997-01-29,40\n"
            "a,1997-03-01,99\n"  # after calibration: ignored
            "b,1997-01-08,7\n"
        )
        by_id = {s.customer_id: s for s in clv.summarise(rows, calibration_end=date(1997, 1, 29))}
        assert by_id["a"] == clv.CustomerSummary("a", 2, 4.0, 4.0, 30.0)
        assert by_id["b"] == clv.CustomerSummary("b", 0, 0.0, 3.0, 0.0)

    def test_cdnow_whitespace_format(self) -> None:
        rows = clv.parse_transactions(" 00004 0001 19970101  2   29.33\n 00004 0001 19970118 1 9\n")
        assert rows == [
            clv.Transaction("00004", date(1997, 1, 1), 29.33),
            clv.Transaction("00004", date(1997, 1, 18), 9.0),
        ]

    @pytest.mark.parametrize(
        ("text", "message"),
        [
            ("", "no transactions"),
            ("a,1997-13-01,3\n", "line 1"),
            ("a,1997-01-01,3\nb,1997-01-02\n", "line 2: expected customer_id,date,amount"),
            ("a,1997-01-01,-3\n", "non-negative amount"),
            ("a,1997-01-01,nan\n", "non-negative amount"),
            ("1 2 3\n", "CDNOW format"),
            ("customer_id,date,amount\n", "no transactions"),
        ],
    )
    def test_bad_input_names_the_line(self, text: str, message: str) -> None:
        with pytest.raises(clv.ClvInputError, match=message):
            clv.parse_transactions(text)

    def test_no_repeat_buyer_cannot_be_fitted(self) -> None:
        rows = clv.parse_transactions("a,1997-01-01,3\nb,1997-01-02,4\n")
        with pytest.raises(clv.ClvInputError, match="bought twice"):
            clv.fit(rows, calibration_end=date(1997, 2, 1))

    def test_small_fit_predicts_per_customer(self) -> None:
        lines = [f"c{i},1997-01-{1 + i % 5:02d},{10 + i}" for i in range(30)]
        lines += [f"c{i},1997-02-{1 + i % 20:02d},{12 + i}" for i in range(0, 30, 2)]
        lines += [f"c{i},1997-03-{1 + i % 20:02d},{9 + i}" for i in range(0, 30, 3)]
        fitted = clv.fit(
            clv.parse_transactions("\n".join(lines)),
            calibration_end=date(1997, 4, 1),
            penalizer=clv.SMALL_DATA_PENALIZER,
        )
        predictions = {p.customer_id: p for p in fitted.predictions(horizon_weeks=12)}
        assert set(predictions) == {f"c{i}" for i in range(30)}
        for row in predictions.values():
            assert 0 < row.p_alive <= 1
            assert 0 < row.expected_purchases < 12  # finite: the small fit is not degenerate
        c0 = predictions["c0"]  # three purchases: Jan 1, Feb 1, Mar 1
        assert (c0.frequency, c0.recency) == (2, 59 / 7)
        assert c0.expected_purchases == pytest.approx(
            clv.expected_purchases(fitted.bgnbd, 12, 2, 59 / 7, 90 / 7)
        )
        assert predictions["c1"].p_alive == 1.0
        assert predictions["c1"].expected_spend is None
        assert fitted.gamma_gamma is not None
        assert predictions["c0"].expected_spend is not None


class TestCommand:
    """`intuitivus-flow analytics clv FILE --calibration-end ... --format json`."""

    def _run(self, *args: str) -> Result:
        from intuitivus_flow.cli import app

        return CliRunner().invoke(app, ["analytics", "clv", *args])

    def test_prints_both_models_as_json(self, tmp_path: Path) -> None:
        lines = [f"c{i},2024-01-{1 + i % 5:02d},{10 + i}" for i in range(20)]
        lines += [f"c{i},2024-02-{1 + i % 20:02d},{12 + i}" for i in range(0, 20, 2)]
        lines += [f"c{i},2024-03-{1 + i % 20:02d},{9 + i}" for i in range(0, 20, 3)]
        file = tmp_path / "tx.csv"
        file.write_text("customer_id,date,amount\n" + "\n".join(lines) + "\n")
        result = self._run(str(file), "--calibration-end", "2024-03-31", "--penalizer", "0.1")
        assert result.exit_code == 0, result.output
        body = json.loads(result.stdout)
        assert set(body["bgnbd"]) == {"r", "alpha", "a", "b", "log_likelihood"}
        assert {"p", "q", "gamma"} <= set(body["gamma_gamma"])
        expected = clv.fit(
            clv.read_transactions(file), calibration_end=date(2024, 3, 31), penalizer=0.1
        )
        assert body["bgnbd"]["r"] == pytest.approx(expected.bgnbd.r)

    def test_a_bad_file_is_one_line(self, tmp_path: Path) -> None:
        file = tmp_path / "bad.csv"
        file.write_text("a,2024-01-01,1\nb,yesterday,2\n")
        result = self._run(str(file), "--calibration-end", "2024-03-31")
        assert result.exit_code == 2
        assert result.stderr.strip().splitlines() == [
            f"error: {file}: line 2: 'yesterday' is not a date (YYYY-MM-DD or YYYYMMDD)"
        ]

    def test_a_bad_date_is_one_line(self, tmp_path: Path) -> None:
        result = self._run(str(tmp_path / "missing.csv"), "--calibration-end", "soon")
        assert result.exit_code == 2
        assert "is not a date" in result.stderr


def test_kpis_command_refuses_a_bad_workspace_id() -> None:
    from intuitivus_flow.cli import app

    result = CliRunner().invoke(app, ["analytics", "kpis", "--workspace", "nope"])
    assert result.exit_code == 2
    assert result.stderr.strip() == "error: 'nope' is not a workspace id"
