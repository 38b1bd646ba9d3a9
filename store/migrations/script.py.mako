"""${message}

Create Date: ${create_date}
"""

import sqlalchemy as sa
from alembic import op

${imports if imports else ""}
## Alembic reads branch_labels and depends_on with getattr(..., None): a revision without them has none.
## Shared column and table shapes: store/migrations/shapes.py (frozen once a revision uses one).
revision, down_revision = ${repr(up_revision)}, ${repr(down_revision)}
% if branch_labels:
branch_labels = ${repr(branch_labels)}
% endif
% if depends_on:
depends_on = ${repr(depends_on)}
% endif


def upgrade() -> None:
    ${upgrades if upgrades else "pass"}


def downgrade() -> None:
    ${downgrades if downgrades else "pass"}
