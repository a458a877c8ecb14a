from taylorprune.errors import first_line


def test_first_line_quotes_the_first_non_blank_line():
    assert first_line(RuntimeError("\n  shapes differ  \nTraceback of the exporter\n...")) == "shapes differ"


def test_first_line_of_an_empty_message_is_the_type_name():
    assert first_line(KeyError()) == "KeyError"
    assert first_line(ValueError("   \n")) == "ValueError"
