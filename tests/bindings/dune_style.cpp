/*
 * dune_style.cpp — a program written the way DUNE-DAQ's own ipm tests are
 * (make_ipm_*, nlohmann::json connection objects, exceptions on timeouts and
 * wrong sizes, callbacks, s_block), run over one ipm transport family:
 *
 *   bindings_dune_style zmq-tcp | zmq-ipc | shm
 *
 * It uses only the dunedaq::ipm API (ipm/Sender.hpp, Receiver.hpp,
 * Subscriber.hpp). The last case moves messages to a second process, a copy
 * of this program started with --child-receive.
 */
#include "ipm/Receiver.hpp"
#include "ipm/Sender.hpp"
#include "ipm/Subscriber.hpp"

#include "check.hpp"

#include <atomic>
#include <functional>
#include <type_traits>
#include <chrono>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

using namespace dunedaq::ipm;
using namespace std::chrono_literals;

namespace
{

struct Family {
    std::string name, sender, receiver, publisher, subscriber;
    /* A fresh endpoint for the binding side (receiver or publisher). */
    std::string (*bind_endpoint)();
    /* An endpoint that no receiver serves (a sender there cannot send). */
    std::string (*dead_endpoint)();
};

std::string tcp_any()
{
    return "tcp://127.0.0.1:*";
}
std::string ipc_fresh()
{
    return "ipc:///tmp/" + check::unique("ipm-dune") + ".ipc";
}
std::string shm_fresh()
{
    return "shm://" + check::unique("ipm-dune");
}

const Family families[] = {
    {"zmq-tcp", "ZmqSender", "ZmqReceiver", "ZmqPublisher", "ZmqSubscriber", tcp_any,
     ipc_fresh},
    {"zmq-ipc", "ZmqSender", "ZmqReceiver", "ZmqPublisher", "ZmqSubscriber", ipc_fresh,
     ipc_fresh},
    {"shm", "ShmSender", "ShmReceiver", "ShmPublisher", "ShmSubscriber", shm_fresh,
     shm_fresh},
};

std::vector<char> bytes(const std::string &s)
{
    return std::vector<char>(s.begin(), s.end());
}

/* A connected receiver / sender pair of the family's sender/receiver types. */
struct Pair {
    std::shared_ptr<Receiver> receiver;
    std::shared_ptr<Sender> sender;
    std::string endpoint;
};

Pair connect_pair(const Family &f, nlohmann::json extra = nlohmann::json::object())
{
    Pair p;
    p.receiver = make_ipm_receiver(f.receiver);
    nlohmann::json rj = extra;
    rj["connection_string"] = f.bind_endpoint();
    p.endpoint = p.receiver->connect_for_receives(rj);
    p.sender = make_ipm_sender(f.sender);
    nlohmann::json sj;
    sj["connection_string"] = p.endpoint;
    p.sender->connect_for_sends(sj);
    return p;
}

void test_constants()
{
    CHECK(Sender::s_no_block.count() == 0);
    CHECK(Sender::s_block.count() > 3600000); /* "blocking" is at least an hour */
    CHECK(Receiver::s_block == Sender::s_block);
    CHECK(Receiver::s_any_size == 0);
    CHECK(!std::is_copy_constructible_v<Sender>);
    CHECK(!std::is_move_assignable_v<Receiver>);
}

void test_states(const Family &f)
{
    auto the_receiver = make_ipm_receiver(f.receiver);
    CHECK(the_receiver != nullptr);
    CHECK(!the_receiver->can_receive());
    CHECK_THROWS(the_receiver->receive(Receiver::s_no_block), KnownStateForbidsReceive);

    auto the_sender = make_ipm_sender(f.sender);
    CHECK(the_sender != nullptr);
    CHECK(!the_sender->can_send());
    std::vector<char> test_data{'T', 'E', 'S', 'T'};
    CHECK_THROWS(the_sender->send(test_data.data(), test_data.size(), Sender::s_no_block),
                 KnownStateForbidsSend);

    nlohmann::json rj;
    rj["connection_string"] = f.bind_endpoint();
    std::string ep = the_receiver->connect_for_receives(rj);
    CHECK(!ep.empty());
    nlohmann::json sj;
    sj["connection_string"] = ep;
    CHECK(the_sender->connect_for_sends(sj) == ep);
    CHECK(the_receiver->can_receive());
    CHECK(the_sender->can_send());

    const char *bad_bytes = nullptr;
    CHECK_THROWS(the_sender->send(bad_bytes, 10, Sender::s_no_block),
                 NullPointerPassedToSend);
    /* DUNE: 0 bytes is a no-op, so nothing arrives. */
    CHECK(the_sender->send(test_data.data(), 0, Sender::s_no_block));
    CHECK_THROWS(the_receiver->receive(50ms), ReceiveTimeoutExpired);
}

void test_send_receive(const Family &f)
{
    Pair p = connect_pair(f);
    std::vector<char> test_data{'T', 'E', 'S', 'T'};
    /* The first send waits for the connection (ZeroMQ connects in the
     * background); s_block as DUNE's tests use it. */
    p.sender->send(test_data.data(), test_data.size(), Sender::s_block, "some metadata");
    auto response = p.receiver->receive(Receiver::s_block);
    CHECK(response.data == test_data);
    CHECK(response.metadata == "some metadata");

    /* A timeout throws, not before it expired, naming ipm's reason. */
    auto before = std::chrono::steady_clock::now();
    CHECK_THROWS(p.receiver->receive(std::chrono::milliseconds(100)),
                 ReceiveTimeoutExpired);
    CHECK(check::elapsed_ms(before) >= 100);
    CHECK_CONTAINS(check::last_what(), "timeout period was 100 milliseconds");
    CHECK_CONTAINS(check::last_what(), p.endpoint);
    /* ...or, with no_tmoexcept_mode, returns an empty Response. */
    auto empty = p.receiver->receive(10ms, Receiver::s_any_size, true);
    CHECK(empty.data.empty() && empty.metadata.empty());

    /* Wrong size: UnexpectedNumberOfBytes, and the message is consumed. */
    p.sender->send(test_data.data(), test_data.size(), Sender::s_block);
    CHECK_THROWS(p.receiver->receive(Receiver::s_block, 7), UnexpectedNumberOfBytes);
    CHECK_CONTAINS(check::last_what(), "Expected 7 bytes");
    CHECK_THROWS(p.receiver->receive(50ms), ReceiveTimeoutExpired);
    p.sender->send(test_data.data(), test_data.size(), Sender::s_block);
    CHECK(p.receiver->receive(Receiver::s_block, 4).data == test_data);

    /* Many messages, in order, with binary content and a large one. */
    std::vector<char> big(900 << 10); /* under ShmReceiver's default 1 MiB limit */
    for (size_t i = 0; i < big.size(); i++)
        big[i] = static_cast<char>(i * 7);
    for (int i = 0; i < 200; i++) {
        std::string s = "message " + std::to_string(i);
        p.sender->send(s.data(), static_cast<int>(s.size()), 5s, std::to_string(i));
    }
    p.sender->send(big.data(), static_cast<int>(big.size()), 5s);
    bool in_order = true;
    for (int i = 0; i < 200; i++) {
        auto r = p.receiver->receive(5s);
        in_order &= r.data == bytes("message " + std::to_string(i)) &&
                    r.metadata == std::to_string(i);
    }
    CHECK(in_order);
    CHECK(p.receiver->receive(5s).data == big);
}

void test_send_timeout(const Family &f)
{
    if (f.name.rfind("zmq", 0) == 0) {
        /* No receiver: ZmqSender queues nothing for an absent peer. */
        auto the_sender = make_ipm_sender(f.sender);
        the_sender->connect_for_sends({{"connection_string", f.dead_endpoint()}});
        std::vector<char> d{'x'};
        auto before = std::chrono::steady_clock::now();
        CHECK_THROWS(the_sender->send(d.data(), 1, 50ms), SendTimeoutExpired);
        CHECK(check::elapsed_ms(before) >= 50);
        CHECK_CONTAINS(check::last_what(), "Unable to send within timeout period");
        CHECK(!the_sender->send(d.data(), 1, 10ms, "", true));
        return;
    }
    /* shm: a small queue (a JSON number, passed to ipm as text) fills up. */
    Pair p = connect_pair(f, {{"buffer_size", 4096}});
    std::vector<char> d(1000, 'y');
    int sent = 0;
    bool timed_out = false;
    for (; sent < 100 && !timed_out; sent++) {
        try {
            p.sender->send(d.data(), static_cast<int>(d.size()), 10ms);
        } catch (const SendTimeoutExpired &e) {
            timed_out = true;
            CHECK_CONTAINS(e.what(), "Unable to send within timeout period");
        }
    }
    CHECK(timed_out);
    CHECK(!p.sender->send(d.data(), static_cast<int>(d.size()), 1ms, "", true));
    /* Nothing was half-sent: every accepted message arrives whole. */
    int got = 0;
    while (true) {
        auto r = p.receiver->receive(100ms, Receiver::s_any_size, true);
        if (r.data.empty()) break;
        CHECK(r.data == d);
        got++;
    }
    CHECK(got == sent - 1);
}

void test_callbacks(const Family &f)
{
    Pair p = connect_pair(f);
    std::mutex mu;
    std::vector<std::string> got;
    std::atomic<int> count{0};
    auto callback_fun = [&](Receiver::Response &res) {
        std::lock_guard<std::mutex> lock(mu);
        got.emplace_back(res.data.begin(), res.data.end());
        count++;
    };
    p.receiver->register_callback(callback_fun);
    CHECK(p.receiver->can_receive()); /* DUNE: still connected */
    CHECK_THROWS(p.receiver->receive(Receiver::s_no_block), KnownStateForbidsReceive);

    for (std::string s : {"TEST", "ANOTHER TEST", "A THIRD TEST"})
        p.sender->send(s.data(), static_cast<int>(s.size()), Sender::s_block);
    for (int i = 0; i < 1000 && count.load() < 3; i++)
        usleep(10000);
    {
        std::lock_guard<std::mutex> lock(mu);
        CHECK(got == (std::vector<std::string>{"TEST", "ANOTHER TEST", "A THIRD TEST"}));
    }

    p.receiver->unregister_callback();
    std::string last = "A FOURTH TEST";
    p.sender->send(last.data(), static_cast<int>(last.size()), Sender::s_block);
    usleep(100000);
    CHECK(count.load() == 3);
    auto response = p.receiver->receive(Receiver::s_block);
    CHECK(response.data == bytes(last));
}

void test_errors(const Family &f)
{
    CHECK_THROWS(make_ipm_sender("NoSuchSender"), OperationFailed);
    CHECK_CONTAINS(check::last_what(), "NoSuchSender");
    CHECK(make_ipm_subscriber(f.receiver) == nullptr); /* a receiver, not a subscriber */
    CHECK_THROWS(make_ipm_receiver(f.sender), OperationFailed);

    auto s = make_ipm_sender(f.sender);
    CHECK_THROWS(s->connect_for_sends({{"conection_string", f.bind_endpoint()}}),
                 OperationFailed);
    CHECK_CONTAINS(check::last_what(), "did you mean 'connection_string'");
    CHECK(!s->can_send());
    CHECK_THROWS(s->connect_for_sends({{"connection_string", {{"nested", 1}}}}),
                 OperationFailed);
    CHECK_THROWS(s->connect_for_sends(nlohmann::json::array({1, 2})), OperationFailed);
}

/* Receive (bounded) until a message with `topic` arrives while `pub` keeps
 * publishing: subscriptions and connections reach a ZeroMQ publisher
 * asynchronously, so the first messages may go nowhere. */
bool publish_until_received(Sender &pub, Subscriber &sub, const std::string &payload,
                            const std::string &topic, const std::string &ignored)
{
    for (int i = 0; i < 500; i++) {
        pub.send(payload.data(), static_cast<int>(payload.size()), Sender::s_no_block,
                 ignored);
        pub.send(payload.data(), static_cast<int>(payload.size()), Sender::s_no_block,
                 topic);
        auto r = sub.receive(20ms, Receiver::s_any_size, true);
        if (!r.data.empty()) {
            CHECK(r.metadata == topic); /* never the ignored topic */
            return r.data == bytes(payload);
        }
    }
    return false;
}

void drain(Subscriber &sub)
{
    while (!sub.receive(200ms, Receiver::s_any_size, true).data.empty()) {
    }
}

void test_pubsub(const Family &f)
{
    auto first_publisher = make_ipm_sender(f.publisher);
    auto second_publisher = make_ipm_sender(f.publisher);
    std::string ep1 =
        first_publisher->connect_for_sends({{"connection_string", f.bind_endpoint()}});
    std::string ep2 =
        second_publisher->connect_for_sends({{"connection_string", f.bind_endpoint()}});

    auto the_subscriber = make_ipm_subscriber(f.subscriber);
    CHECK(the_subscriber != nullptr);
    CHECK(!the_subscriber->can_receive());
    nlohmann::json sub_json;
    sub_json["connection_strings"] = {
        ep1, ep2}; /* a JSON array: one subscriber, two publishers */
    the_subscriber->connect_for_receives(sub_json);
    CHECK(the_subscriber->can_receive());
    the_subscriber->subscribe("testTopic");

    CHECK(publish_until_received(*first_publisher, *the_subscriber, "FROM ONE",
                                 "testTopic", "ignoredTopic"));
    CHECK(publish_until_received(*second_publisher, *the_subscriber, "FROM TWO",
                                 "testTopic", "otherTopic"));
    drain(*the_subscriber);

    /* Prefix match: "test" also covers "testTopic". */
    the_subscriber->unsubscribe("testTopic");
    the_subscriber->subscribe("test");
    CHECK(publish_until_received(*first_publisher, *the_subscriber, "PREFIX",
                                 "testTopic2", "ignoredTopic"));
    drain(*the_subscriber);
    the_subscriber->unsubscribe("test");
    usleep(500000); /* let ZeroMQ carry the unsubscription to the publisher */
    std::vector<char> d{'T', 'E', 'S', 'T'};
    first_publisher->send(d.data(), 4, Sender::s_no_block, "testTopic");
    CHECK_THROWS(the_subscriber->receive(300ms), ReceiveTimeoutExpired);

    /* makeIPMReceiver of a subscriber type is a Subscriber (DUNE's README
     * assigns it to a shared_ptr<Subscriber>). */
    std::shared_ptr<Subscriber> via_receiver = makeIPMReceiver(f.subscriber);
    CHECK(via_receiver != nullptr);
    std::shared_ptr<Receiver> as_receiver = makeIPMReceiver(f.subscriber);
    CHECK(std::dynamic_pointer_cast<Subscriber>(as_receiver) != nullptr);

    /* A callback on a subscriber gets only its topics. */
    std::atomic<int> count{0};
    std::atomic<bool> wrong{false};
    via_receiver->connect_for_receives({{"connection_string", ep1}});
    via_receiver->subscribe("cb");
    via_receiver->register_callback([&](Receiver::Response &res) {
        if (res.metadata != "cb") wrong = true;
        count++;
    });
    for (int i = 0; i < 500 && count.load() == 0; i++) {
        first_publisher->send(d.data(), 4, Sender::s_no_block, "other");
        first_publisher->send(d.data(), 4, Sender::s_no_block, "cb");
        usleep(20000);
    }
    via_receiver->unregister_callback();
    CHECK(count.load() > 0);
    CHECK(!wrong.load());
}

/* Two processes: a child receives `count` messages and checks them. */
int child_receive(const std::string &type, const std::string &bind, int count)
{
    auto receiver = make_ipm_receiver(type);
    std::string ep = receiver->connect_for_receives({{"connection_string", bind}});
    std::printf("ready %s\n", ep.c_str());
    std::fflush(stdout);
    for (int i = 0; i < count; i++) {
        auto r = receiver->receive(std::chrono::seconds(20), 8 + i % 100);
        std::string want = "seq " + std::to_string(i);
        if (r.metadata != want || r.data[0] != static_cast<char>(i)) {
            std::fprintf(stderr, "child: message %d wrong (metadata '%s')\n", i,
                         r.metadata.c_str());
            return 1;
        }
    }
    std::printf("received %d\n", count);
    return 0;
}

void test_two_processes(const Family &f, const std::string &self)
{
    const int count = 2000;
    check::Child child;
    CHECK(check::spawn(
        child, self,
        {"--child-receive", f.receiver, f.bind_endpoint(), std::to_string(count)}));
    std::string ready = child.line();
    CHECK(ready.rfind("ready ", 0) == 0);
    if (ready.rfind("ready ", 0) != 0) return;
    auto sender = make_ipm_sender(f.sender);
    sender->connect_for_sends({{"connection_string", ready.substr(6)}});
    std::vector<char> d(8 + 100);
    for (int i = 0; i < count; i++) {
        d.assign(static_cast<size_t>(8 + i % 100), 'z');
        d[0] = static_cast<char>(i);
        sender->send(d.data(), static_cast<int>(d.size()), std::chrono::seconds(20),
                     "seq " + std::to_string(i));
    }
    CHECK(child.line() == "received " + std::to_string(count));
    CHECK(child.wait() == 0);
}

} // namespace

int main(int argc, char **argv)
{
    if (argc == 5 && std::string(argv[1]) == "--child-receive") {
        try {
            return child_receive(argv[2], argv[3], std::atoi(argv[4]));
        } catch (const std::exception &e) {
            std::fprintf(stderr, "child: %s\n", e.what());
            return 1;
        }
    }
    if (argc != 2) {
        std::fprintf(stderr, "usage: %s zmq-tcp|zmq-ipc|shm\n", argv[0]);
        return 2;
    }
    const Family *f = nullptr;
    for (const auto &fam : families)
        if (fam.name == argv[1]) f = &fam;
    if (!f) {
        std::fprintf(stderr, "unknown family %s\n", argv[1]);
        return 2;
    }
    struct Case {
        const char *name;
        std::function<void()> run;
    } cases[] = {
        {"constants", [] { test_constants(); }},
        {"states", [&] { test_states(*f); }},
        {"send_receive", [&] { test_send_receive(*f); }},
        {"send_timeout", [&] { test_send_timeout(*f); }},
        {"callbacks", [&] { test_callbacks(*f); }},
        {"errors", [&] { test_errors(*f); }},
        {"pubsub", [&] { test_pubsub(*f); }},
        {"two_processes", [&] { test_two_processes(*f, "/proc/self/exe"); }},
    };
    for (auto &c : cases) {
        int before = check::failures();
        try {
            c.run();
        } catch (const std::exception &e) {
            std::fprintf(stderr, "%s: unexpected exception: %s\n", c.name, e.what());
            ++check::failures();
        }
        std::printf("%s %s/%s\n", check::failures() == before ? "ok  " : "FAIL",
                    f->name.c_str(), c.name);
    }
    return check::report("bindings_dune_style");
}
