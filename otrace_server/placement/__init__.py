"""Where an editor's text meets the running code: the layer the language server (``lsp/``) and the
DAP endpoint (``dap/``) share to place things in a document and to map positions back to it.

    from otrace_server import placement

    enc = placement.enclosing(lines, line)                       # the def around a 0-based line
    module, func = placement.live_function(path, enc.qualname)   # the running function behind it
    source, at, mapped = placement.hold_source(func, lines, line, "label")
    patch = engine.patcher.patch(enc.qualname, source, module.__dict__,
                                 line_map=placement.patch_lines(path, mapped))
    placement.source_position(engine.patcher, patch.filename, 3)  # -> (path, document line)

Modules, one concern each:
    statements   positions in a document's lines: enclosing def, the statement a line belongs to
                 (where an inserted statement goes), a breakpoint line's statement, word under cursor
    traceassert  the text edits of "Insert traceassert (hold) here"
    live         the module and live function behind a file, whether the document still matches,
                 whether an editor's path can name a file at all
    inserted     a running function's source with statements inserted, and its line map
    positions    positions in patched code mapped back to the document (the patch's LineMap)
    follow       where a line of one text is in another (lines that moved with edits)
    promote      a live patch against its source file now: where its def is, the diff, the edit

Imports core only. Pure functions plus read-only looks at ``sys.modules``/``linecache``/``inspect``;
any thread.
"""

from otrace_server.placement.follow import LineFollower, nearest
from otrace_server.placement.inserted import hold_source, insert_statements, statement_line
from otrace_server.placement.live import (CHANGED, code_matches, line_matches, live_function, module_for_file,
                                          path_error, same_file)
from otrace_server.placement.promote import PatchChange, locate_def, patch_change
from otrace_server.placement.positions import patch_lines, source_position
from otrace_server.placement.statements import (Enclosing, enclosing, indentation, insertion_point, next_statement,
                                                statement_start, word_at)
from otrace_server.placement.traceassert import insert_traceassert_edits

__all__ = ["Enclosing", "CHANGED", "enclosing", "statement_start", "next_statement", "insertion_point",
           "indentation", "insert_traceassert_edits", "module_for_file", "live_function", "code_matches",
           "line_matches", "statement_line", "insert_statements", "hold_source", "word_at", "same_file",
           "patch_lines", "source_position", "LineFollower", "nearest", "PatchChange", "patch_change",
           "locate_def", "path_error"]
