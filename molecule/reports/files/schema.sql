-- The reports scenario's databases: a small schema with comments, indexes and a foreign key, one synthetic patient
-- whose name and phone are the marker no report may contain, and a table made fragmented for db optimize.
CREATE DATABASE IF NOT EXISTS cloud_followup CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
CREATE DATABASE IF NOT EXISTS interface_data CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
USE cloud_followup;
CREATE TABLE IF NOT EXISTS patients (
  id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
  name VARCHAR(64) NOT NULL COMMENT '姓名',
  phone VARCHAR(20) NOT NULL COMMENT '电话',
  PRIMARY KEY (id)
) ENGINE=InnoDB COMMENT='患者 Patients';
CREATE TABLE IF NOT EXISTS followup_tasks (
  id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
  patient_id BIGINT UNSIGNED NOT NULL COMMENT '患者',
  due_date DATE NULL,
  status VARCHAR(16) NOT NULL DEFAULT 'new',
  pad CHAR(200) NOT NULL DEFAULT '',
  PRIMARY KEY (id),
  KEY ix_patient (patient_id),
  KEY ix_patient_again (patient_id),
  CONSTRAINT fk_tasks_patient FOREIGN KEY (patient_id) REFERENCES patients (id) ON DELETE CASCADE
) ENGINE=InnoDB COMMENT='随访任务 Follow-up tasks';
INSERT INTO patients (id, name, phone) VALUES (1, '测试患者甲', '13800138000')
  ON DUPLICATE KEY UPDATE name = VALUES(name);
INSERT INTO followup_tasks (patient_id, due_date, pad)
  SELECT 1, DATE('2026-01-01') + INTERVAL (seq % 300) DAY, REPEAT('x', 200) FROM seq_1_to_100000;
DELETE FROM followup_tasks WHERE id % 10 <> 0;
SELECT COUNT(*) FROM followup_tasks WHERE status = 'new';
SELECT * FROM patients WHERE phone = '13800138000';
