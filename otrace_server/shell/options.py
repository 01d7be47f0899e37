"""The one quoting rule for option values of shell commands (``trace -a/-c/-n``,
``resume --value/--raise/--status``), and its one parser.

The rule (``RULE`` is its text for ``help``):

* an option's value is the rest of the line up to the next option word of that command (or the
  end of the line; for ``trace``, up to the name, its last word), taken as typed: spaces, brackets
  and quotes inside it are kept (``-c a == 77``, ``--value [1, {'k': 2}]``,
  ``--raise ValueError('no')``, ``--status 404 not found``);
* a value that is ONE quoted string (``'...'`` or ``"..."``, nothing outside the quotes) is the
  text between the quotes: the quotes are removed once (``-c "a == 77"``, ``--status 404 "not
  found"``); ``--value``/``--raise`` take it as that string, as Python reads it;
* quotes group words, so an option word inside quotes is text, not an option.

    >>> line = parse_options("resume", "id1 all --status 404 'not found'", ("--status",))
    >>> line.operands, line.values
    (['id1', 'all'], {'--status': "404 'not found'"})
    >>> first_word("404 'not found'")
    ('404', "'not found'")
    >>> text_of("'not found'"), text_of("a == 77"), quoted_text("[1, 'a']")
    ('not found', 'a == 77', None)

Pure functions, any thread.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from otrace_server.core.errors import OTraceError

__all__ = ["RULE", "OptionLine", "parse_options", "quoted_text", "text_of", "first_word"]

RULE = """Option values (one rule for trace and resume): a value is the rest of the line up to the
next option (trace: up to the name, which comes last), taken as typed, spaces and quotes included.
A value that is one quoted string ('...' or "...") is the text between the quotes (removed once);
--value/--raise take it as that string. Quotes also hide option words: --value "a --raise b"."""

_QUOTES = "'\""


@dataclass
class OptionLine:
    """A parsed command line: ``operands`` (the words before the first option, each by
    ``text_of``), ``values`` (option -> its value as typed, stripped; an option given twice: the
    last one) and ``last`` (with ``name_last``: the line's last word, as typed, else None)."""

    operands: list[str] = field(default_factory=list)
    values: dict[str, str] = field(default_factory=dict)
    last: str | None = None


def _words(command: str, line: str) -> list[tuple[int, int]]:
    """(start, end) of each word of ``line``: runs of non-blanks, where quotes ('...', "...",
    with backslash escapes inside) group blanks into the word. OTraceError on an unclosed quote."""
    spans: list[tuple[int, int]] = []
    i, n = 0, len(line)
    while i < n:
        if line[i].isspace():
            i += 1
            continue
        start = i
        while i < n and not line[i].isspace():
            if line[i] in _QUOTES:
                i = _closing(command, line, i) + 1
            else:
                i += 1
        spans.append((start, i))
    return spans


def _closing(command: str, line: str, at: int) -> int:
    """Index of the quote that closes the one at ``at`` (OTraceError when there is none)."""
    quote, i = line[at], at + 1
    while i < len(line):
        if line[i] == "\\":
            i += 2
            continue
        if line[i] == quote:
            return i
        i += 1
    raise OTraceError(f"{command}: no closing quotation ({quote}) in {line[at:]!r}")


def quoted_text(value: str) -> str | None:
    """The text between the quotes when ``value`` is one quoted string ('...' or "..."), else None
    (``'a' + 'b'`` is not one quoted string)."""
    if len(value) < 2 or value[0] not in _QUOTES or value[-1] != value[0]:
        return None
    try:
        return value[1:-1] if _closing("", value, 0) == len(value) - 1 else None
    except OTraceError:
        return None


def text_of(value: str) -> str:
    """``value`` by the rule: the text between its quotes when it is one quoted string, else as typed."""
    inner = quoted_text(value)
    return value if inner is None else inner


def first_word(value: str) -> tuple[str, str]:
    """(the first word of ``value`` by ``text_of``, the rest as typed): ``--status N reason``."""
    spans = _words("", value)
    if not spans:
        return "", ""
    start, end = spans[0]
    return text_of(value[start:end]), value[end:].strip()


def parse_options(command: str, line: str, options, *, name_last: bool = False) -> OptionLine:
    """Split ``line`` (the rest of a ``command`` line) by the rule of this module; ``options``: the
    command's option words. ``name_last``: the last word of a line with options is the command's
    operand (``trace -c a == 77 name``), unless it is the only word of the last option's value.
    OTraceError (one line, naming ``command``) for an option without a value or an unclosed quote."""
    spans = _words(command, line)
    at = [k for k, (s, e) in enumerate(spans) if line[s:e] in options]
    parsed = OptionLine()
    first = at[0] if at else len(spans)
    parsed.operands = [text_of(line[s:e]) for s, e in spans[:first]]
    for j, k in enumerate(at):
        option = line[slice(*spans[k])]
        stop = at[j + 1] if j + 1 < len(at) else len(spans)
        if name_last and stop == len(spans) and stop - k > 2:
            stop -= 1
            parsed.last = line[slice(*spans[stop])]
        if stop == k + 1:
            raise OTraceError(f"{command}: {option} needs a value")
        parsed.values[option] = line[spans[k + 1][0]:spans[stop - 1][1]]
    return parsed
