"""Datasets by their current metadata document: full-text search starts from the matching documents
and finds their datasets through this index (without it, every match scanned every dataset).

Revision ID: 0003
Revises: 0002
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_datasets_metadata", "datasets", ["metadata_cid", "metadata_hash"])


def downgrade() -> None:
    op.drop_index("ix_datasets_metadata", table_name="datasets")
