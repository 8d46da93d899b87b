"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-26 06:32:56.880120
"""

import sqlalchemy as sa
from alembic import op

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('audit_log',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('actor', sa.String(length=200), nullable=False),
    sa.Column('action', sa.String(length=100), nullable=False),
    sa.Column('upload_id', sa.String(length=36), nullable=True),
    sa.Column('details', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_log'))
    )
    op.create_index(op.f('ix_audit_log_upload_id'), 'audit_log', ['upload_id'], unique=False)
    op.create_table('protected_persons',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_protected_persons')),
    sa.UniqueConstraint('name', name=op.f('uq_protected_persons_name'))
    )
    op.create_table('uploads',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('source', sa.Text(), nullable=False),
    sa.Column('uploader_id', sa.String(length=200), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_uploads'))
    )
    op.create_index(op.f('ix_uploads_uploader_id'), 'uploads', ['uploader_id'], unique=False)
    op.create_table('consents',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('person_id', sa.String(length=36), nullable=False),
    sa.Column('uploader_id', sa.String(length=200), nullable=False),
    sa.Column('granted_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['person_id'], ['protected_persons.id'], name=op.f('fk_consents_person_id_protected_persons'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_consents')),
    sa.UniqueConstraint('person_id', 'uploader_id', name=op.f('uq_consents_person_id'))
    )
    op.create_table('person_descriptors',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('person_id', sa.String(length=36), nullable=False),
    sa.Column('vector', sa.JSON(), nullable=False),
    sa.Column('source', sa.Text(), nullable=False),
    sa.Column('model', sa.String(length=100), nullable=False),
    sa.ForeignKeyConstraint(['person_id'], ['protected_persons.id'], name=op.f('fk_person_descriptors_person_id_protected_persons'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_person_descriptors'))
    )
    op.create_index(op.f('ix_person_descriptors_person_id'), 'person_descriptors', ['person_id'], unique=False)
    op.create_table('scans',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('upload_id', sa.String(length=36), nullable=False),
    sa.Column('detector_version', sa.String(length=100), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('timings', sa.JSON(), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['upload_id'], ['uploads.id'], name=op.f('fk_scans_upload_id_uploads'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_scans')),
    sa.UniqueConstraint('upload_id', 'detector_version', name=op.f('uq_scans_upload_id'))
    )
    op.create_index(op.f('ix_scans_upload_id'), 'scans', ['upload_id'], unique=False)
    op.create_table('face_tracks',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('scan_id', sa.String(length=36), nullable=False),
    sa.Column('track_index', sa.Integer(), nullable=False),
    sa.Column('start_s', sa.Float(), nullable=False),
    sa.Column('end_s', sa.Float(), nullable=False),
    sa.Column('score', sa.Float(), nullable=False),
    sa.Column('median_side', sa.Float(), nullable=False),
    sa.Column('times', sa.JSON(), nullable=False),
    sa.Column('scores', sa.JSON(), nullable=False),
    sa.Column('person_id', sa.String(length=36), nullable=True),
    sa.Column('match_distance', sa.Float(), nullable=True),
    sa.Column('decisive', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['person_id'], ['protected_persons.id'], name=op.f('fk_face_tracks_person_id_protected_persons'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['scan_id'], ['scans.id'], name=op.f('fk_face_tracks_scan_id_scans'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_face_tracks'))
    )
    op.create_index(op.f('ix_face_tracks_scan_id'), 'face_tracks', ['scan_id'], unique=False)
    op.create_table('verdicts',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('upload_id', sa.String(length=36), nullable=False),
    sa.Column('scan_id', sa.String(length=36), nullable=False),
    sa.Column('decision', sa.String(length=20), nullable=False),
    sa.Column('score', sa.Float(), nullable=True),
    sa.Column('detector_version', sa.String(length=100), nullable=False),
    sa.Column('reasons', sa.JSON(), nullable=False),
    sa.Column('is_current', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['scan_id'], ['scans.id'], name=op.f('fk_verdicts_scan_id_scans'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['upload_id'], ['uploads.id'], name=op.f('fk_verdicts_upload_id_uploads'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_verdicts')),
    sa.UniqueConstraint('scan_id', name=op.f('uq_verdicts_scan_id'))
    )
    op.create_index(op.f('ix_verdicts_upload_id'), 'verdicts', ['upload_id'], unique=False)
    op.create_index('uq_verdicts_current_upload', 'verdicts', ['upload_id'], unique=True, postgresql_where=sa.text('is_current'), sqlite_where=sa.text('is_current'))
    op.create_table('alerts',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('verdict_id', sa.String(length=36), nullable=False),
    sa.Column('upload_id', sa.String(length=36), nullable=False),
    sa.Column('payload', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('delivered_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['upload_id'], ['uploads.id'], name=op.f('fk_alerts_upload_id_uploads'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['verdict_id'], ['verdicts.id'], name=op.f('fk_alerts_verdict_id_verdicts'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_alerts')),
    sa.UniqueConstraint('verdict_id', name=op.f('uq_alerts_verdict_id'))
    )
    op.create_table('evidence',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('track_id', sa.Integer(), nullable=False),
    sa.Column('time_s', sa.Float(), nullable=False),
    sa.Column('score', sa.Float(), nullable=False),
    sa.Column('image', sa.LargeBinary(), nullable=False),
    sa.ForeignKeyConstraint(['track_id'], ['face_tracks.id'], name=op.f('fk_evidence_track_id_face_tracks'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_evidence'))
    )
    op.create_index(op.f('ix_evidence_track_id'), 'evidence', ['track_id'], unique=False)
    op.create_table('reviews',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('upload_id', sa.String(length=36), nullable=False),
    sa.Column('verdict_id', sa.String(length=36), nullable=True),
    sa.Column('reviewer', sa.String(length=200), nullable=False),
    sa.Column('decision', sa.String(length=20), nullable=False),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['upload_id'], ['uploads.id'], name=op.f('fk_reviews_upload_id_uploads'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['verdict_id'], ['verdicts.id'], name=op.f('fk_reviews_verdict_id_verdicts'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_reviews'))
    )
    op.create_index(op.f('ix_reviews_upload_id'), 'reviews', ['upload_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_reviews_upload_id'), table_name='reviews')
    op.drop_table('reviews')
    op.drop_index(op.f('ix_evidence_track_id'), table_name='evidence')
    op.drop_table('evidence')
    op.drop_table('alerts')
    op.drop_index('uq_verdicts_current_upload', table_name='verdicts', postgresql_where=sa.text('is_current'), sqlite_where=sa.text('is_current'))
    op.drop_index(op.f('ix_verdicts_upload_id'), table_name='verdicts')
    op.drop_table('verdicts')
    op.drop_index(op.f('ix_face_tracks_scan_id'), table_name='face_tracks')
    op.drop_table('face_tracks')
    op.drop_index(op.f('ix_scans_upload_id'), table_name='scans')
    op.drop_table('scans')
    op.drop_index(op.f('ix_person_descriptors_person_id'), table_name='person_descriptors')
    op.drop_table('person_descriptors')
    op.drop_table('consents')
    op.drop_index(op.f('ix_uploads_uploader_id'), table_name='uploads')
    op.drop_table('uploads')
    op.drop_table('protected_persons')
    op.drop_index(op.f('ix_audit_log_upload_id'), table_name='audit_log')
    op.drop_table('audit_log')
