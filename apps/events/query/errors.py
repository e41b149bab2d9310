"""The one exception of the query language, carrying where in the query the problem is."""
from __future__ import annotations


class QueryError(ValueError):
    """A query that cannot be parsed or compiled.

    `position` is the 0-based character offset of the problem in the query text, `column` the
    same place counted from 1 (what an editor shows), and `end` the offset just after the
    offending part, so a UI can underline it. `str(error)` is the message with the column.
    """

    def __init__(self, message: str, position: int = 0, column: int | None = None, *,
                 end: int | None = None, query: str | None = None) -> None:
        self.message = message
        self.position = max(0, position)
        self.column = column if column is not None else self.position + 1
        self.end = max(self.position + 1, end if end is not None else self.position + 1)
        self.query = query
        super().__init__(f"{message} (at column {self.column})")

    def pointer(self) -> str:
        """The query with a line of carets under the offending part, for plain-text display."""
        if self.query is None:
            return ""
        line = self.query.replace("\n", " ").replace("\t", " ")
        width = max(1, min(self.end, len(line) + 1) - self.position)
        return f"{line}\n{' ' * self.position}{'^' * width}"

    def as_dict(self) -> dict:
        """The error as the API and htmx views return it."""
        return {"message": self.message, "position": self.position, "column": self.column, "end": self.end}
