-- +goose Up
-- Partner enablement: the tenant's onboarding checklist and partners'
-- progress through it, training courses, and course completions (which may
-- grant a row of certifications). Progress and completions are a partner's
-- own: the partner_access policy narrows them for partner users.

CREATE TABLE onboarding_checklists (
    tenant_id   uuid        NOT NULL,
    steps       jsonb       NOT NULL DEFAULT '[]',
    revision    bigint      NOT NULL DEFAULT 1,
    update_time timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id)
);
ALTER TABLE onboarding_checklists ENABLE ROW LEVEL SECURITY;
ALTER TABLE onboarding_checklists FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON onboarding_checklists
    USING (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid);

CREATE TABLE onboarding_progress (
    tenant_id     uuid        NOT NULL,
    partner_id    uuid        NOT NULL,
    step          text        NOT NULL,
    completed_by  text        NOT NULL,
    complete_time timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, partner_id, step),
    FOREIGN KEY (tenant_id, partner_id) REFERENCES partners (tenant_id, partner_id)
);
ALTER TABLE onboarding_progress ENABLE ROW LEVEL SECURITY;
ALTER TABLE onboarding_progress FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON onboarding_progress
    USING (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid);
CREATE POLICY partner_access ON onboarding_progress AS RESTRICTIVE USING (partner_visible(tenant_id, partner_id));

CREATE TABLE training_courses (
    tenant_id          uuid        NOT NULL,
    training_course_id uuid        NOT NULL,
    display_name       text        NOT NULL,
    certification      text        NOT NULL DEFAULT '',
    validity_days      integer     NOT NULL DEFAULT 0,
    passing_score      integer     NOT NULL DEFAULT 0,
    request_id         text,
    create_time        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, training_course_id)
);
CREATE INDEX training_courses_create_time ON training_courses (tenant_id, create_time, training_course_id);
CREATE UNIQUE INDEX training_courses_request_id ON training_courses (tenant_id, request_id) WHERE request_id IS NOT NULL;
ALTER TABLE training_courses ENABLE ROW LEVEL SECURITY;
ALTER TABLE training_courses FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON training_courses
    USING (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid);

CREATE TABLE course_completions (
    tenant_id            uuid        NOT NULL,
    course_completion_id uuid        NOT NULL,
    training_course_id   uuid        NOT NULL,
    partner_id           uuid        NOT NULL,
    learner_id           text        NOT NULL,
    completion_date      date        NOT NULL,
    score                integer     NOT NULL DEFAULT 0,
    certification_id     uuid,
    recorded_by          text        NOT NULL,
    request_id           text,
    create_time          timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, course_completion_id),
    FOREIGN KEY (tenant_id, training_course_id) REFERENCES training_courses (tenant_id, training_course_id),
    FOREIGN KEY (tenant_id, partner_id) REFERENCES partners (tenant_id, partner_id),
    FOREIGN KEY (tenant_id, certification_id) REFERENCES certifications (tenant_id, certification_id)
);
CREATE INDEX course_completions_create_time ON course_completions (tenant_id, create_time, course_completion_id);
CREATE INDEX course_completions_partner ON course_completions (tenant_id, partner_id, create_time, course_completion_id);
CREATE INDEX course_completions_course ON course_completions (tenant_id, training_course_id, create_time, course_completion_id);
CREATE UNIQUE INDEX course_completions_request_id ON course_completions (tenant_id, request_id) WHERE request_id IS NOT NULL;
ALTER TABLE course_completions ENABLE ROW LEVEL SECURITY;
ALTER TABLE course_completions FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON course_completions
    USING (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid);
CREATE POLICY partner_access ON course_completions AS RESTRICTIVE USING (partner_visible(tenant_id, partner_id));

GRANT SELECT, INSERT, UPDATE ON onboarding_checklists TO rapport_partner;
GRANT SELECT, INSERT ON onboarding_progress, training_courses, course_completions TO rapport_partner;

-- +goose Down
DROP TABLE course_completions;
DROP TABLE training_courses;
DROP TABLE onboarding_progress;
DROP TABLE onboarding_checklists;
