/*
 * dune_readme.cpp — the two examples of DUNE-DAQ ipm's README, compiled as
 * written there and run as the two processes they describe (this program
 * starts a copy of itself for the receiving side).
 *
 * Only the README's placeholders are filled in (`void* message= ... ;` and
 * the message_size it uses), and each side repeats the README's send or
 * receive statement until it succeeds: with 10 ms timeouts the README's
 * statements succeed only once the two processes are connected, and a
 * publisher's messages reach a subscriber only after its subscription has.
 * The README's own lines are between the BEGIN/END README markers,
 * unchanged, including its tcp://127.0.0.1:12345 endpoint.
 */
#include "ipm/Receiver.hpp"
#include "ipm/Sender.hpp"
#include "ipm/Subscriber.hpp"

#include "check.hpp"

#include <chrono>
#include <cstring>
#include <string>

using namespace dunedaq::ipm;

namespace
{

const char text[] = "hello from the DUNE README";
const std::chrono::seconds patience(20);

/* The README's "do something with response.data or response.metadata". */
bool check_response(const Receiver::Response &response, const char *want_metadata)
{
    return std::string(response.data.begin(), response.data.end()) == text &&
           response.metadata == want_metadata;
}

// clang-format off
// (the README's lines are kept byte for byte as DUNE wrote them)
int sender_side(check::Child &receiving)
{
    auto start = std::chrono::steady_clock::now();
    // BEGIN README (sender side)
// Sender side
std::shared_ptr<dunedaq::ipm::Sender> sender=dunedaq::ipm::makeIPMSender("ZmqSender");
sender->connect_for_sends({ {"connection_string", "tcp://127.0.0.1:12345"} });
void* message= const_cast<char*>(text) ; size_t message_size = sizeof text - 1;
    for (;;) { try {
// Last arg is send timeout
sender->send(message, message_size, std::chrono::milliseconds(10));
    // END README
    break; } catch (const SendTimeoutExpired &) {
        if (std::chrono::steady_clock::now() - start > patience) return 1;
    } }
    return receiving.line() == "received" && receiving.wait() == 0 ? 0 : 1;
}

int receiver_side()
{
    auto start = std::chrono::steady_clock::now();
    // BEGIN README (receiver side)
// Receiver side
std::shared_ptr<dunedaq::ipm::Receiver> receiver=dunedaq::ipm::makeIPMReceiver("ZmqReceiver");
receiver->connect_for_receives({ {"connection_string", "tcp://127.0.0.1:12345"} });
    std::printf("ready\n"); std::fflush(stdout);
    for (;;) { try {
// Arg is receive timeout
Receiver::Response response=receiver->receive(std::chrono::milliseconds(10));
// ... do something with response.data or response.metadata
    // END README
    if (!check_response(response, "")) return 1;
    break; } catch (const ReceiveTimeoutExpired &) {
        if (std::chrono::steady_clock::now() - start > patience) return 1;
    } }
    std::printf("received\n");
    return 0;
}

int publisher_side()
{
    auto start = std::chrono::steady_clock::now();
    // BEGIN README (publisher side)
// Publisher side
std::shared_ptr<dunedaq::ipm::Sender> publisher=dunedaq::ipm::makeIPMSender("ZmqPublisher");
publisher->connect_for_sends({ {"connection_string", "tcp://127.0.0.1:12345"} });
void* message= const_cast<char*>(text) ; size_t message_size = sizeof text - 1;
    // The subscriber starts once the publisher is bound, and says
    // "received" once a message reached it.
    check::Child subscribing;
    if (!check::spawn(subscribing, "/proc/self/exe", {"--subscriber"})) return 1;
    do {
// Third arg is send timeout; last arg is topic for subscribers to subscribe to
publisher->send(message, message_size, std::chrono::milliseconds(10), "topic");
    // END README
    usleep(10000);
    } while (std::chrono::steady_clock::now() - start < patience && !check::readable(subscribing));
    return subscribing.line() == "received" && subscribing.wait() == 0 ? 0 : 1;
}

int subscriber_side()
{
    auto start = std::chrono::steady_clock::now();
    // BEGIN README (subscriber side)
// Subscriber side
std::shared_ptr<dunedaq::ipm::Subscriber> subscriber=dunedaq::ipm::makeIPMReceiver("ZmqSubscriber");
subscriber->connect_for_receives({ {"connection_string", "tcp://127.0.0.1:12345"} });
subscriber->subscribe("topic");
    for (;;) { try {
// Arg is receive timeout
Receiver::Response response=subscriber->receive(std::chrono::milliseconds(10));
// ... do something with response.data or response.metadata
    // END README
    if (!check_response(response, "topic")) return 1;
    break; } catch (const ReceiveTimeoutExpired &) {
        if (std::chrono::steady_clock::now() - start > patience) return 1;
    } }
    std::printf("received\n");
    return 0;
}
// clang-format on

} // namespace

int main(int argc, char **argv)
{
    try {
        if (argc == 2 && std::string(argv[1]) == "--receiver") return receiver_side();
        if (argc == 2 && std::string(argv[1]) == "--subscriber") return subscriber_side();

        /* Sender/receiver: the receiver binds first, as ZmqReceiver must. */
        check::Child receiving;
        CHECK(check::spawn(receiving, "/proc/self/exe", {"--receiver"}));
        CHECK(receiving.line() == "ready");
        CHECK(sender_side(receiving) == 0);
        std::printf("%s README sender/receiver example\n",
                    check::failures() ? "FAIL" : "ok  ");

        /* Publisher/subscriber: the publisher binds; the subscriber starts
         * once it has. */
        int before = check::failures();
        CHECK(publisher_side() == 0);
        std::printf("%s README publisher/subscriber example\n",
                    check::failures() != before ? "FAIL" : "ok  ");
    } catch (const std::exception &e) {
        std::fprintf(stderr, "unexpected exception: %s\n", e.what());
        ++check::failures();
    }
    return check::report("bindings_dune_readme");
}
