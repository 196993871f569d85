"""The catalog: chain events, their projections, metadata documents and full-text search.

Search covers a document's ``search_text`` (name, description, tags, column names): on SQLite an FTS5
table kept in step with ``documents`` by triggers (external content), on PostgreSQL a GIN index over
its ``simple`` text-search vector.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


SQLITE_SEARCH = (
    "CREATE VIRTUAL TABLE document_search USING fts5("
    "search_text, content='documents', content_rowid='id', tokenize='unicode61 remove_diacritics 2')",
    "CREATE TRIGGER documents_ai AFTER INSERT ON documents BEGIN "
    "INSERT INTO document_search(rowid, search_text) VALUES (new.id, new.search_text); END",
    "CREATE TRIGGER documents_ad AFTER DELETE ON documents BEGIN "
    "INSERT INTO document_search(document_search, rowid, search_text) "
    "VALUES ('delete', old.id, old.search_text); END",
    "CREATE TRIGGER documents_au AFTER UPDATE ON documents BEGIN "
    "INSERT INTO document_search(document_search, rowid, search_text) "
    "VALUES ('delete', old.id, old.search_text); "
    "INSERT INTO document_search(rowid, search_text) VALUES (new.id, new.search_text); END",
)
POSTGRES_SEARCH = (
    "CREATE INDEX ix_documents_search ON documents "
    "USING gin (to_tsvector('simple', coalesce(search_text, '')))"
)


def upgrade() -> None:
    op.create_table(
        "blocks",
        sa.Column("number", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("hash", sa.String(length=66), nullable=False),
        sa.Column("timestamp", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("number"),
    )
    op.create_table(
        "checkpoint",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("chain_id", sa.BigInteger(), nullable=False),
        sa.Column("market", sa.String(length=42), nullable=False),
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("block_hash", sa.String(length=66), nullable=False),
        sa.Column("block_time", sa.BigInteger(), nullable=False),
        sa.Column("head", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "datasets",
        sa.Column("datatoken", sa.String(length=42), nullable=False),
        sa.Column("index", sa.BigInteger(), nullable=False),
        sa.Column("publisher", sa.String(length=42), nullable=False),
        sa.Column("provider", sa.String(length=42), nullable=False),
        sa.Column("services", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("free", sa.Boolean(), nullable=False),
        sa.Column("payment_token", sa.String(length=42), nullable=False),
        sa.Column("price", sa.String(length=80), nullable=False),
        sa.Column("price_sort", sa.Float(), nullable=False),
        sa.Column("cap", sa.String(length=80), nullable=False),
        sa.Column("dispenser_limit", sa.String(length=80), nullable=False),
        sa.Column("publish_fee_bps", sa.Integer(), nullable=False),
        sa.Column("has_allowlist", sa.Boolean(), nullable=False),
        sa.Column("epsilon_budget", sa.BigInteger(), nullable=False),
        sa.Column("epsilon_spent", sa.BigInteger(), nullable=False),
        sa.Column("metadata_cid", sa.String(length=512), nullable=False),
        sa.Column("metadata_hash", sa.String(length=66), nullable=False),
        sa.Column("metadata_versions", sa.Integer(), nullable=False),
        sa.Column("total_supply", sa.String(length=80), nullable=False),
        sa.Column("order_count", sa.BigInteger(), nullable=False),
        sa.Column("receipt_count", sa.BigInteger(), nullable=False),
        sa.Column("revenue", sa.String(length=80), nullable=False),
        sa.Column("published_block", sa.BigInteger(), nullable=False),
        sa.Column("published_at", sa.BigInteger(), nullable=False),
        sa.Column("published_tx", sa.String(length=66), nullable=False),
        sa.Column("updated_block", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("datatoken"),
        sa.UniqueConstraint("index"),
    )
    op.create_index(op.f("ix_datasets_order_count"), "datasets", ["order_count"], unique=False)
    op.create_index(op.f("ix_datasets_payment_token"), "datasets", ["payment_token"], unique=False)
    op.create_index(op.f("ix_datasets_price_sort"), "datasets", ["price_sort"], unique=False)
    op.create_index(op.f("ix_datasets_provider"), "datasets", ["provider"], unique=False)
    op.create_index(op.f("ix_datasets_published_block"), "datasets", ["published_block"], unique=False)
    op.create_index(op.f("ix_datasets_publisher"), "datasets", ["publisher"], unique=False)
    op.create_table(
        "documents",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("cid", sa.String(length=512), nullable=False),
        sa.Column("sha256", sa.String(length=66), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt", sa.Float(), nullable=False),
        sa.Column("fetched_at", sa.Float(), nullable=True),
        sa.Column("name", sa.Text(), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("license", sa.Text(), nullable=True),
        sa.Column("search_text", sa.Text(), nullable=True),
        sa.Column("body", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_documents_status"), "documents", ["status"], unique=False)
    op.create_index("ux_documents_cid_sha256", "documents", ["cid", "sha256"], unique=True)
    op.create_table(
        "event_accounts",
        sa.Column("account", sa.String(length=42), nullable=False),
        sa.Column("block_number", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("log_index", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("role", sa.String(length=24), nullable=False),
        sa.PrimaryKeyConstraint("account", "block_number", "log_index", "role"),
    )
    op.create_table(
        "events",
        sa.Column("block_number", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("log_index", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("block_hash", sa.String(length=66), nullable=False),
        sa.Column("tx_hash", sa.String(length=66), nullable=False),
        sa.Column("address", sa.String(length=42), nullable=False),
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("datatoken", sa.String(length=42), nullable=True),
        sa.Column("args", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("block_number", "log_index"),
    )
    op.create_index("ix_events_datatoken", "events", ["datatoken", "block_number", "log_index"], unique=False)
    op.create_index(op.f("ix_events_tx_hash"), "events", ["tx_hash"], unique=False)
    op.create_table(
        "market",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("fee_collector", sa.String(length=42), nullable=False),
        sa.Column("fee_bps", sa.Integer(), nullable=False),
        sa.Column("orders_paused", sa.Boolean(), nullable=False),
        sa.Column("order_count", sa.BigInteger(), nullable=False),
        sa.Column("receipt_count", sa.BigInteger(), nullable=False),
        sa.Column("violation_count", sa.Integer(), nullable=False),
        sa.Column("volume", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "metadata_versions",
        sa.Column("block_number", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("log_index", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("datatoken", sa.String(length=42), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("cid", sa.String(length=512), nullable=False),
        sa.Column("sha256", sa.String(length=66), nullable=False),
        sa.Column("updated_by", sa.String(length=42), nullable=False),
        sa.Column("tx_hash", sa.String(length=66), nullable=False),
        sa.Column("timestamp", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("block_number", "log_index"),
    )
    op.create_index(op.f("ix_metadata_versions_datatoken"), "metadata_versions", ["datatoken"], unique=False)
    op.create_table(
        "orders",
        sa.Column("order_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("datatoken", sa.String(length=42), nullable=False),
        sa.Column("consumer", sa.String(length=42), nullable=False),
        sa.Column("payer", sa.String(length=42), nullable=False),
        sa.Column("provider", sa.String(length=42), nullable=False),
        sa.Column("service_id", sa.Integer(), nullable=False),
        sa.Column("funding", sa.String(length=16), nullable=False),
        sa.Column("fee_token", sa.String(length=42), nullable=False),
        sa.Column("fee_amount", sa.String(length=80), nullable=False),
        sa.Column("quote_nonce", sa.String(length=24), nullable=False),
        sa.Column("environment", sa.String(length=66), nullable=False),
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("log_index", sa.Integer(), nullable=False),
        sa.Column("tx_hash", sa.String(length=66), nullable=False),
        sa.Column("timestamp", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("order_id"),
    )
    op.create_index(op.f("ix_orders_block_number"), "orders", ["block_number"], unique=False)
    op.create_index(op.f("ix_orders_consumer"), "orders", ["consumer"], unique=False)
    op.create_index(op.f("ix_orders_datatoken"), "orders", ["datatoken"], unique=False)
    op.create_index(op.f("ix_orders_payer"), "orders", ["payer"], unique=False)
    op.create_table(
        "receipts",
        sa.Column("block_number", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("log_index", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("job_id", sa.String(length=66), nullable=False),
        sa.Column("datatoken", sa.String(length=42), nullable=False),
        sa.Column("order_id", sa.BigInteger(), nullable=False),
        sa.Column("poster", sa.String(length=42), nullable=False),
        sa.Column("algorithm_hash", sa.String(length=66), nullable=False),
        sa.Column("output_hash", sa.String(length=66), nullable=False),
        sa.Column("epsilon", sa.BigInteger(), nullable=False),
        sa.Column("spent_after", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("tx_hash", sa.String(length=66), nullable=False),
        sa.Column("timestamp", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("block_number", "log_index"),
    )
    op.create_index(op.f("ix_receipts_datatoken"), "receipts", ["datatoken"], unique=False)
    op.create_index(op.f("ix_receipts_job_id"), "receipts", ["job_id"], unique=False)
    op.create_index(op.f("ix_receipts_order_id"), "receipts", ["order_id"], unique=False)
    op.create_index(op.f("ix_receipts_output_hash"), "receipts", ["output_hash"], unique=False)
    op.create_table(
        "document_tags",
        sa.Column("document_id", sa.Integer(), nullable=False),
        sa.Column("tag", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(["document_id"], ["documents.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("document_id", "tag"),
    )
    op.create_index(op.f("ix_document_tags_tag"), "document_tags", ["tag"], unique=False)
    if op.get_bind().dialect.name == "sqlite":
        for statement in SQLITE_SEARCH:
            op.execute(statement)
    else:
        op.execute(POSTGRES_SEARCH)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for trigger in ("documents_ai", "documents_ad", "documents_au"):
            op.execute(f"DROP TRIGGER IF EXISTS {trigger}")
        op.execute("DROP TABLE IF EXISTS document_search")
    else:
        op.execute("DROP INDEX IF EXISTS ix_documents_search")
    op.drop_index(op.f("ix_document_tags_tag"), table_name="document_tags")
    op.drop_table("document_tags")
    op.drop_index(op.f("ix_receipts_output_hash"), table_name="receipts")
    op.drop_index(op.f("ix_receipts_order_id"), table_name="receipts")
    op.drop_index(op.f("ix_receipts_job_id"), table_name="receipts")
    op.drop_index(op.f("ix_receipts_datatoken"), table_name="receipts")
    op.drop_table("receipts")
    op.drop_index(op.f("ix_orders_payer"), table_name="orders")
    op.drop_index(op.f("ix_orders_datatoken"), table_name="orders")
    op.drop_index(op.f("ix_orders_consumer"), table_name="orders")
    op.drop_index(op.f("ix_orders_block_number"), table_name="orders")
    op.drop_table("orders")
    op.drop_index(op.f("ix_metadata_versions_datatoken"), table_name="metadata_versions")
    op.drop_table("metadata_versions")
    op.drop_table("market")
    op.drop_index(op.f("ix_events_tx_hash"), table_name="events")
    op.drop_index("ix_events_datatoken", table_name="events")
    op.drop_table("events")
    op.drop_table("event_accounts")
    op.drop_index("ux_documents_cid_sha256", table_name="documents")
    op.drop_index(op.f("ix_documents_status"), table_name="documents")
    op.drop_table("documents")
    op.drop_index(op.f("ix_datasets_publisher"), table_name="datasets")
    op.drop_index(op.f("ix_datasets_published_block"), table_name="datasets")
    op.drop_index(op.f("ix_datasets_provider"), table_name="datasets")
    op.drop_index(op.f("ix_datasets_price_sort"), table_name="datasets")
    op.drop_index(op.f("ix_datasets_payment_token"), table_name="datasets")
    op.drop_index(op.f("ix_datasets_order_count"), table_name="datasets")
    op.drop_table("datasets")
    op.drop_table("checkpoint")
    op.drop_table("blocks")
