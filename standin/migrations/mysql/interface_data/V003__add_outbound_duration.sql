-- 出站结果增加通话时长 Add the call duration to outbound results (release 1.2.0)
ALTER TABLE followup_result_outbound
  ADD COLUMN call_duration_seconds INT NULL COMMENT '通话时长（秒）' AFTER call_result;
