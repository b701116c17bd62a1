"""The one error a template can cause: CloudFormation answers it as a ``ValidationError``."""

from __future__ import annotations


class TemplateError(Exception):
    """``message`` is the full text CloudFormation answers, e.g. "Template format error: ..."."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
