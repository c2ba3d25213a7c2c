"""Retrieval evaluation from files: formats, errors that name the line, the CLI's JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from recsys.cli.main import app
from recsys.data.errors import DataError
from recsys.data.taxonomy import Taxonomy
from recsys.recall.retrieval_evaluation import (
    SUMMARY_KEYS,
    evaluate_models,
    load_retrieval_data,
    read_qrels,
    read_titles_tsv,
)
from recsys.recall.title_benchmarks import (
    esco_benchmark,
    heldout_esco,
    onet_title_keys,
    soc_benchmark,
    unambiguous_esco_labels,
)


def _files(folder: Path) -> tuple[Path, Path, Path]:
    q, c, r = folder / "q.tsv", folder / "c.tsv", folder / "qrels.txt"
    q.write_text("q_id\tjobtitle\nq1\tsenior react developer\nq2\tnurse icu\n")
    c.write_text("c_id\tjobtitle\nc1\treact developer\nc2\tregistered nurse icu\nc3\tchef\n")
    r.write_text("q1 0 c1 1\nq2 0 c2 1\nq2 0 c3 0\n")
    return q, c, r


def test_tfidf_on_a_tiny_benchmark(tmp_path: Path) -> None:
    data = load_retrieval_data(*_files(tmp_path))
    (summary,) = evaluate_models(data, ["tfidf"])
    assert list(summary) == list(SUMMARY_KEYS)
    assert summary["mrr"] == 1.0 and summary["recall@10"] == 1.0 and summary["n_queries"] == 2


def test_format_errors_name_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.tsv"
    bad.write_text("id\tjobtitle\nq1\tx\n")
    with pytest.raises(DataError, match=r"bad.tsv:1: header must be"):
        read_titles_tsv(bad, "q_id")
    bad.write_text("q_id\tjobtitle\nq1\tx\tmore\n")
    with pytest.raises(DataError, match=r"bad.tsv:2: expected 2 tab-separated"):
        read_titles_tsv(bad, "q_id")
    qrels = tmp_path / "qrels.txt"
    qrels.write_text("q1 0 c1 high\n")
    with pytest.raises(DataError, match=r"qrels.txt:1: relevance must be an integer"):
        read_qrels(qrels)
    q, c, r = _files(tmp_path)
    r.write_text("q1 0 c9 1\n")
    with pytest.raises(DataError, match="missing from"):
        load_retrieval_data(q, c, r)


def test_cli_writes_one_object_per_model(tmp_path: Path) -> None:
    q, c, r = _files(tmp_path)
    out = tmp_path / "out.json"
    result = CliRunner().invoke(
        app,
        [
            "evaluate",
            "retrieval",
            "--queries",
            str(q),
            "--corpus",
            str(c),
            "--qrels",
            str(r),
            "--model",
            "tfidf",
            "--model",
            "base",
            "--json",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    rows = json.loads(out.read_text())
    assert [row["model"] for row in rows] == ["tfidf", "base"]
    assert all(list(row) == list(SUMMARY_KEYS) for row in rows)
    assert "paired randomization" in result.output


def test_soc_benchmark_asks_titles_o_net_lacks(taxonomy: Taxonomy) -> None:
    data = soc_benchmark(taxonomy)
    onet_keys = onet_title_keys(taxonomy)
    assert len(data.queries) > 100
    assert not set(data.queries["jobtitle"].str.casefold()) & onet_keys
    assert set(data.qrels["q_id"]) == set(data.queries["q_id"])  # every query has an answer
    assert not data.queries["jobtitle"].str.contains("All Other").any()
    # A broad-group title is answered by the O*NET occupations under that broad group only.
    q_id = data.queries.set_index("jobtitle").loc["Marketing and Sales Managers", "q_id"]
    answers = data.qrels.loc[data.qrels["q_id"] == q_id, "c_id"]
    titles = set(data.corpus.set_index("c_id").loc[answers, "jobtitle"])
    assert "Marketing Managers" in titles and "Sales Managers" in titles
    assert "Chief Executives" not in titles


def test_esco_benchmark_queries_only_held_out_occupations(data_dir: Path) -> None:
    held = heldout_esco(data_dir, fraction=0.2, seed=3)
    data = esco_benchmark(data_dir, set(), max_queries=50, query_occupations=held)
    labels = unambiguous_esco_labels(data_dir)
    asked = labels[labels["label"].isin(data.queries["jobtitle"])]["conceptUri"]
    assert len(data.queries) == 50 and set(asked) <= held
