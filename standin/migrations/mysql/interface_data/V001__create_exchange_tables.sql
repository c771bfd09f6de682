-- 创建接口交换表（HIS 患者入站、随访结果出站） Create the interface exchange tables (release 1.0.0)
-- his_patient_inbound: the HIS writes discharged patients (status new); the interface service sends them to the
-- app and marks them sent (with the app's ids) or error. followup_result_outbound: completed follow-up results
-- copied from the app for the HIS to read (one row per task). exchange_cursor: where the copy stopped.

CREATE TABLE his_patient_inbound (
  id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
  his_patient_id VARCHAR(64) NOT NULL COMMENT 'HIS 患者标识',
  visit_no VARCHAR(64) NULL COMMENT '住院/门诊号',
  name VARCHAR(64) NOT NULL,
  gender CHAR(1) NOT NULL DEFAULT 'U',
  birth_date DATE NULL,
  phone VARCHAR(20) NOT NULL,
  department VARCHAR(64) NULL,
  diagnosis VARCHAR(128) NULL,
  discharge_date DATE NULL,
  plan_code VARCHAR(32) NULL COMMENT '随访方案编码 requested follow-up plan',
  status VARCHAR(16) NOT NULL DEFAULT 'new' COMMENT 'new/sent/error',
  app_patient_id BIGINT UNSIGNED NULL,
  app_task_id BIGINT UNSIGNED NULL,
  error VARCHAR(512) NULL,
  received_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
  processed_at DATETIME NULL,
  PRIMARY KEY (id),
  KEY ix_his_patient_inbound_status (status, id),
  KEY ix_his_patient_inbound_app_patient (app_patient_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci COMMENT='HIS 患者入站 Patients from the HIS';

CREATE TABLE followup_result_outbound (
  id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
  task_id BIGINT UNSIGNED NOT NULL COMMENT 'app followup_tasks.id',
  patient_id BIGINT UNSIGNED NOT NULL COMMENT 'app patients.id',
  his_patient_id VARCHAR(64) NULL,
  plan_id INT UNSIGNED NULL,
  status VARCHAR(16) NOT NULL COMMENT 'completed',
  call_id VARCHAR(40) NULL,
  call_result VARCHAR(16) NULL,
  completed_at DATETIME NOT NULL,
  copied_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
  his_read TINYINT(1) NOT NULL DEFAULT 0 COMMENT 'HIS 已读取',
  PRIMARY KEY (id),
  UNIQUE KEY uk_followup_result_outbound_task (task_id),
  KEY ix_followup_result_outbound_unread (his_read, id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci COMMENT='随访结果出站 Results for the HIS';

CREATE TABLE exchange_cursor (
  name VARCHAR(64) NOT NULL,
  cursor_time DATETIME NULL,
  cursor_id BIGINT UNSIGNED NOT NULL DEFAULT 0,
  updated_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,
  PRIMARY KEY (name)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci COMMENT='交换进度 Exchange cursors';
