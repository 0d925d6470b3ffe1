/* The README's example: a receiver on a free TCP port, a sender to it, one
 * message with metadata. Built and run by ctest (test `example_hello`). */
#include <ipm/ipm.h>
#include <stdio.h>

int main(void)
{
    ipm_receiver *rx;
    ipm_sender *tx;
    ipm_message msg;
    char spec[256];
    if (ipm_receiver_open("type=ZmqReceiver; connection_string=tcp://127.0.0.1:*", &rx))
        return fprintf(stderr, "%s\n", ipm_last_error()), 1;
    snprintf(spec, sizeof spec, "type=ZmqSender; connection_string=%s", ipm_receiver_endpoint(rx));
    if (ipm_sender_open(spec, &tx) || ipm_send(tx, "hello", 5, 1000, "greeting") ||
        ipm_receive(rx, &msg, 1000))
        return fprintf(stderr, "%s\n", ipm_last_error()), 1;
    printf("%.*s (%s)\n", (int)msg.size, (const char *)msg.data, msg.metadata);
    ipm_message_release(&msg);
    ipm_sender_destroy(tx);
    ipm_receiver_destroy(rx);
    return 0;
}
