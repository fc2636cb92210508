"""Ground-truth files (``report --labels``, the demo's ``--labels-day1/2``) read under the names labelled data sets
use: the user under any of its names or the client address, the label as a class or a yes-no column."""

from __future__ import annotations

import gzip

import pytest

from clickguard.sim.catalog import BENIGN_EXAMPLES, is_abnormal
from clickguard.sim.output import read_label_table, read_labels


@pytest.mark.parametrize(
    ("name", "body", "want"),
    [
        ("truth.csv", "user_id,user_type\nu1,buyer\nu2,scraper\n", {"u1": "buyer", "u2": "scraper"}),
        ("truth.csv", "User;Label\nu1;0\nu2;1\n", {"u1": "0", "u2": "1"}),  # a spreadsheet's semicolons
        ("bots.csv", "client,is_bot\n203.0.113.9,true\n198.51.100.4,false\n",
         {"203.0.113.9": "true", "198.51.100.4": "false"}),  # a web log's clients by address
        ("logs.tsv", "time\tuser\tpath\tstatus\tuidx\trealtype\n1\tu1\tlogin\tfail\t0\tattacker\n",
         {"u1": "attacker"}),  # the notebook's (seed 001) logs, their label column as it is named
        ("verdicts.csv", "ip,verdict\n192.0.2.7, bot \n", {"192.0.2.7": "bot"}),  # two columns, one named
        ("export.csv", "Visitor ID,Session,Is Bot\nv1,s1,1\nv2,s2,0\n", {"v1": "1", "v2": "0"}),  # a sheet's header
    ],
)  # fmt: skip
def test_a_labels_file_is_read_under_the_names_data_sets_use(tmp_path, name, body, want):
    path = tmp_path / name
    path.write_text(body)
    assert read_labels(path) == want
    packed = tmp_path / (name + ".gz")
    packed.write_bytes(gzip.compress(b"\xef\xbb\xbf" + body.encode()))  # a byte-order mark, compressed
    assert read_labels(packed) == want


def test_yes_no_columns_read_the_right_way():
    assert [is_abnormal(v) for v in ("1", "true", "yes", "bot", "0", "false", "no", "human")] == [True] * 4 + [
        False
    ] * 4


def test_a_header_without_a_user_or_a_label_says_what_it_lacks(tmp_path):
    path = tmp_path / "truth.csv"
    path.write_text("foo,bar,baz\n1,2,3\n")
    with pytest.raises(ValueError, match=r"expected a header naming the user .* and the label .*'foo', 'bar', 'baz'"):
        read_labels(path)


@pytest.mark.parametrize(
    ("body", "column", "want"),
    [
        # a column under a label's name that is no label (every user "an abuser") beside the yes-no column that is
        ("visitor_id,type,is_fraud\nv1,guest,0\nv2,registered,1\n", "is_fraud", {"v1": "0", "v2": "1"}),
        # a class column and a yes-no column that disagree: the one that names both kinds is read
        ("visitor_id,kind,is_bot\nv1,human,0\nv2,bot,0\n", "kind", {"v1": "human", "v2": "bot"}),
        # no abuser in either: the column whose words name good users
        ("visitor_id,type,is_bot\nv1,guest,0\nv2,registered,0\n", "is_bot", {"v1": "0", "v2": "0"}),
        # a block list names abusers only, in its one label column
        ("user,label\nu1,bot\nu2,scraper\n", "label", {"u1": "bot", "u2": "scraper"}),
    ],
)
def test_of_several_label_columns_the_one_that_tells_users_apart_is_read(tmp_path, body, column, want):
    path = tmp_path / "labels.csv"
    path.write_text(body)
    table = read_label_table(path)
    assert (table.column, table.by_user) == (column, want)


@pytest.mark.parametrize(
    ("word", "abuser"),
    [
        ("Y", True), ("T", True), ("N", False), ("f", False), ("not a bot", False), ("non-fraud", False),
        ("NonFraud", False), ("no_attack", False), ("not_suspicious", False), ("nothing", True), ("bot", True),
    ],
)  # fmt: skip
def test_a_yes_no_letter_and_a_negated_abuse_word_read_the_right_way(word, abuser):
    assert is_abnormal(word) is abuser


def test_the_words_messages_name_for_good_users_read_as_good_users():
    assert BENIGN_EXAMPLES and not any(map(is_abnormal, BENIGN_EXAMPLES))
