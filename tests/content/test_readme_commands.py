"""Each integration README's command section is what `demisto-sdk generate-docs` writes for its yml, followed by our
notes and examples (tools/readme_commands.py composes it; run it after changing a command in a yml)."""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tools"))

import readme_commands  # noqa: E402

SAMPLE = """# X

## Commands

Intro.

### one

***
Does one.

More about one.

#### Base Command

`one`

#### Command example
```!one```

## After

Kept.
"""


def test_both_readmes_have_the_command_sections_generate_docs_writes(capsys):
    assert readme_commands.main(["--check"]) == 0, capsys.readouterr().out


def test_composing_keeps_our_notes_and_examples_after_the_generated_part():
    generated = (
        "## Commands\n\nGenerated intro.\n\n### one\n\n***\nDoes one.\n\n#### Base Command\n\n`one`\n\n### two\n\n***\nTwo.\n\n"
    )
    text = readme_commands.composed(SAMPLE, generated)
    assert text.startswith("# X\n\n## Commands\n\nGenerated intro.\n\n### one\n")
    one = text[text.index("### one") : text.index("### two")]
    assert one.index("#### Base Command") < one.index("#### Notes\n\nMore about one.") < one.index("#### Command example")
    assert text.endswith("### two\n\n***\nTwo.\n\n## After\n\nKept.\n")
    assert readme_commands.composed(text, generated) == text  # composing again changes nothing
