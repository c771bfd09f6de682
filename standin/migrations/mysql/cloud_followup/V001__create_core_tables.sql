-- 创建随访业务核心表（患者、随访方案、随访任务、问卷、宣教、知识库） Create the core follow-up tables
-- Release 1.0.0. Task status is Chinese text: 待随访 (pending), 已完成 (completed), 失败 (failed).
-- Times are UTC (the components set the session time zone to +00:00).

CREATE TABLE patients (
  id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
  patient_no VARCHAR(20) NOT NULL COMMENT '患者编号 (P0000001 synthetic, A000000001 created by the API)',
  his_patient_id VARCHAR(64) NULL COMMENT 'HIS 患者标识 patient id in the HIS, when the interface created it',
  name VARCHAR(64) NOT NULL COMMENT '姓名',
  gender CHAR(1) NOT NULL DEFAULT 'U' COMMENT '性别 M/F/U',
  birth_date DATE NULL COMMENT '出生日期',
  phone VARCHAR(20) NOT NULL COMMENT '联系电话',
  department VARCHAR(64) NULL COMMENT '科室',
  diagnosis VARCHAR(128) NULL COMMENT '诊断',
  discharge_date DATE NULL COMMENT '出院日期',
  source VARCHAR(16) NOT NULL DEFAULT 'api' COMMENT '来源 api/his/seed',
  created_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
  updated_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,
  PRIMARY KEY (id),
  UNIQUE KEY uk_patients_patient_no (patient_no),
  UNIQUE KEY uk_patients_his_patient_id (his_patient_id),
  KEY ix_patients_discharge (discharge_date)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci COMMENT='患者 Patients';

CREATE TABLE questionnaires (
  id INT UNSIGNED NOT NULL AUTO_INCREMENT,
  code VARCHAR(32) NULL COMMENT '问卷编码',
  title VARCHAR(128) NOT NULL COMMENT '问卷标题',
  department VARCHAR(64) NULL COMMENT '科室',
  questions MEDIUMTEXT NOT NULL COMMENT '题目 (JSON array)',
  created_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
  PRIMARY KEY (id),
  UNIQUE KEY uk_questionnaires_code (code)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci COMMENT='随访问卷 Questionnaires';

CREATE TABLE followup_plans (
  id INT UNSIGNED NOT NULL AUTO_INCREMENT,
  plan_code VARCHAR(32) NULL COMMENT '方案编码',
  name VARCHAR(128) NOT NULL COMMENT '方案名称',
  department VARCHAR(64) NULL COMMENT '科室',
  disease VARCHAR(64) NULL COMMENT '专病',
  interval_days INT NOT NULL DEFAULT 30 COMMENT '随访间隔（天）',
  times INT NOT NULL DEFAULT 1 COMMENT '随访次数',
  channel VARCHAR(16) NOT NULL DEFAULT 'voice' COMMENT '方式 voice/sms/app/manual',
  questionnaire_id INT UNSIGNED NULL COMMENT '问卷',
  description VARCHAR(512) NULL,
  active TINYINT(1) NOT NULL DEFAULT 1,
  created_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
  PRIMARY KEY (id),
  UNIQUE KEY uk_followup_plans_code (plan_code)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci COMMENT='随访方案 Follow-up plans';

CREATE TABLE followup_tasks (
  id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
  task_no VARCHAR(24) NULL COMMENT '任务编号 (synthetic data only)',
  patient_id BIGINT UNSIGNED NOT NULL COMMENT '患者 patients.id',
  plan_id INT UNSIGNED NULL COMMENT '方案 followup_plans.id',
  due_date DATE NOT NULL COMMENT '计划随访日期',
  channel VARCHAR(16) NOT NULL DEFAULT 'voice' COMMENT '方式 voice/sms/app/manual',
  status VARCHAR(16) NOT NULL DEFAULT '待随访' COMMENT '状态 待随访/已完成/失败',
  call_id VARCHAR(40) NULL COMMENT '最近一次通话 cdr.call_records._id',
  call_result VARCHAR(16) NULL COMMENT '通话结果 answered/busy/no_answer/failed',
  result_note VARCHAR(512) NULL COMMENT '随访结果说明',
  completed_at DATETIME NULL COMMENT '完成时间',
  created_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
  updated_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,
  PRIMARY KEY (id),
  UNIQUE KEY uk_followup_tasks_task_no (task_no),
  KEY ix_followup_tasks_patient_due (patient_id, due_date),
  KEY ix_followup_tasks_status_due (status, due_date),
  KEY ix_followup_tasks_completed (completed_at, id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci COMMENT='随访任务 Follow-up tasks';

CREATE TABLE education_materials (
  id INT UNSIGNED NOT NULL AUTO_INCREMENT,
  code VARCHAR(32) NULL COMMENT '宣教编码',
  title VARCHAR(128) NOT NULL COMMENT '标题',
  category VARCHAR(16) NOT NULL DEFAULT '住院' COMMENT '住院/门诊',
  department VARCHAR(64) NULL COMMENT '科室',
  content MEDIUMTEXT NOT NULL COMMENT '内容',
  created_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
  PRIMARY KEY (id),
  UNIQUE KEY uk_education_materials_code (code)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci COMMENT='健康宣教资料 Health education material';

CREATE TABLE knowledge_base (
  id INT UNSIGNED NOT NULL AUTO_INCREMENT,
  code VARCHAR(32) NULL COMMENT '条目编码',
  title VARCHAR(128) NOT NULL COMMENT '标题',
  disease VARCHAR(64) NULL COMMENT '专病',
  department VARCHAR(64) NULL COMMENT '科室',
  content MEDIUMTEXT NOT NULL COMMENT '内容',
  tags VARCHAR(255) NULL COMMENT '标签，逗号分隔',
  created_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
  PRIMARY KEY (id),
  UNIQUE KEY uk_knowledge_base_code (code)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci COMMENT='专病知识库 Knowledge base';

CREATE TABLE seed_runs (
  scale INT NOT NULL COMMENT '规模 (×1000 patients)',
  patients INT NOT NULL,
  tasks INT NOT NULL,
  call_records INT NOT NULL,
  seconds DECIMAL(10,1) NOT NULL,
  version VARCHAR(16) NOT NULL COMMENT 'release that seeded',
  finished_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
  PRIMARY KEY (scale)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci COMMENT='合成数据记录 Synthetic data runs (stand-in only)';
