# Writes the man page by running `reconcile help-man`, then a reproducible gzip of it.
# -DBINARY=... -DOUTPUT=.../reconcile.1 (OUTPUT.gz is written beside it).
execute_process(COMMAND ${BINARY} help-man OUTPUT_FILE ${OUTPUT}.tmp RESULT_VARIABLE result)
if(NOT result EQUAL 0)
    message(FATAL_ERROR "${BINARY} help-man failed: ${result}")
endif()
file(RENAME ${OUTPUT}.tmp ${OUTPUT})
execute_process(COMMAND gzip -9 -n -c ${OUTPUT} OUTPUT_FILE ${OUTPUT}.gz RESULT_VARIABLE result)
if(NOT result EQUAL 0)
    message(FATAL_ERROR "gzip of ${OUTPUT} failed: ${result}")
endif()
