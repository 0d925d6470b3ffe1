/*
 * checks.c — the list of checks, in the order they run. The names are the
 * result lines' names and what --only matches; keep them stable.
 */
#include "conf.h"

#include <string.h>

const conf_check conf_checks[] = {
    {"limits", "the pair connects; print the limits both ends state", conf_check_limits},
    {"state_before_connect", "can_send/can_receive false, send/receive IPM_ESTATE",
     conf_check_state},
    {"null_data", "NULL data with size > 0 is IPM_EINVAL, nothing is sent",
     conf_check_null_data},
    {"empty_message", "size 0 is delivered, with its metadata", conf_check_empty},
    {"metadata", "metadata round trip up to max_metadata_size, IPM_ETOOBIG past it",
     conf_check_metadata},
    {"sizes", "1 B up to max_message_size (64 MiB if none) arrive intact",
     conf_check_sizes},
    {"too_big", "IPM_ETOOBIG one byte past a stated max_message_size",
     conf_check_too_big},
    {"stats", "sender and receiver stats count messages and bytes", conf_check_stats},
    {"receive_timeout", "IPM_ETIMEDOUT within [T, T+20 ms] (best of 5)",
     conf_check_receive_timeout},
    {"send_timeout", "a full transport: IPM_ETIMEDOUT within [T, T+20 ms]",
     conf_check_send_timeout},
    {"receive_wakeup", "a blocked receive is woken at once by an arrival",
     conf_check_wakeup},
    {"stream", "sequence-numbered stream across processes: none lost, doubled, reordered",
     conf_check_stream},
    {"fan_in", "two sender processes into one receiver, in order per sender",
     conf_check_fan_in},
    {"nothing_before_subscribe", "a subscriber gets nothing before its first subscribe",
     conf_check_nothing_before_subscribe},
    {"topic_prefix", "topics match by prefix, \"\" matches all", conf_check_prefix},
    {"unsubscribe", "after unsubscribe a topic is no longer delivered",
     conf_check_unsubscribe},
    {"multi_publisher", "one subscriber on two publishers (connection_strings)",
     conf_check_multi_publisher},
    {"callback_before_connect", "a callback registered before connect gets every message",
     conf_check_callback_before},
    {"callback_after_connect",
     "a callback after connect; receive is IPM_ESTATE meanwhile",
     conf_check_callback_after},
    {"callback_unregister_inside", "unregistering from inside the callback, then receive",
     conf_check_callback_unregister_inside},
    {"destroy_stopped_receiver",
     "destroying a sender whose peer is SIGSTOPped is bounded",
     conf_check_destroy_stopped_receiver},
    {"destroy_stopped_sender",
     "destroying a receiver whose peer is SIGSTOPped is bounded",
     conf_check_destroy_stopped_sender},
    {"kill_receiver",
     "after the receiving peer's kill -9 sends return within their timeout",
     conf_check_kill_receiver},
    {"kill_sender", "after the sending peer's kill -9 the receiver times out",
     conf_check_kill_sender},
    {"fork_child",
     "objects used in a forked child give IPM_ESTATE; the parent's still work",
     conf_check_fork},
    {"destroy_while_receiving", "destroy while another thread waits in ipm_receive",
     conf_check_destroy_while_receiving},
};

const size_t conf_ncheck = sizeof conf_checks / sizeof conf_checks[0];

const conf_check *conf_check_find(const char *name)
{
    for (size_t i = 0; i < conf_ncheck; i++)
        if (strcmp(conf_checks[i].name, name) == 0) return &conf_checks[i];
    return NULL;
}
