-- 入站记录增加重试次数与下次重试时间 Add retry count and next attempt time to inbound records (release 1.1.0)
ALTER TABLE his_patient_inbound
  ADD COLUMN retry_count INT NOT NULL DEFAULT 0 COMMENT '重试次数' AFTER error,
  ADD COLUMN next_attempt_at DATETIME NULL COMMENT '下次重试时间' AFTER retry_count;
