/*
 * cxx_wrapper.cpp — ipm/ipm.hpp, the RAII C++17 wrapper: ownership and moves,
 * exceptions with status and message, chrono timeouts, views of received
 * data without a copy, callbacks, Params and Config, over shared memory and
 * ZeroMQ.
 */
#include "ipm/ipm.hpp"

#include "check.hpp"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>
#include <thread>

using namespace std::chrono_literals;

namespace
{

std::string shm_spec(const char *type, const std::string &name, const char *extra = "")
{
    return std::string("type=") + type + "; connection_string=shm://" + name + extra;
}

void test_timeouts()
{
    CHECK(ipm::timeout_ms(ipm::block) == IPM_BLOCK);
    CHECK(ipm::timeout_ms(ipm::no_block) == IPM_NO_BLOCK);
    CHECK(ipm::timeout_ms(std::chrono::hours::max()) == IPM_BLOCK);
    CHECK(ipm::timeout_ms(-5ms) == IPM_NO_BLOCK);
    CHECK(ipm::timeout_ms(1500us) == 2); /* rounded up: never early */
    CHECK(ipm::timeout_ms(1ns) == 1);
    CHECK(ipm::timeout_ms(2s) == 2000);
    CHECK(ipm::timeout_ms(std::chrono::duration<double>(0.25)) == 250);
}

void test_send_receive_views()
{
    const std::string name = check::unique("ipm-cxx");
    ipm::Receiver rx(shm_spec("ShmReceiver", name));
    ipm::Sender tx(shm_spec("ShmSender", name));
    CHECK(tx.can_send() && rx.can_receive());
    CHECK(rx.endpoint() == "shm://" + name);

    tx.send(std::string_view("hello"), 1s, "greeting");
    const std::string topic = "std::string metadata";
    tx.send("abc", 3, 1s, topic);
    const char binary[] = {0, 1, 2, 3};
    tx.send(ipm::ByteView(binary, sizeof binary), 1s, std::string_view("view metadata"));
    tx.send(nullptr, 0, 1s); /* an empty message is delivered */

    ipm::Message m = rx.receive(1s);
    CHECK(m.text() == "hello");
    CHECK(m.metadata() == "greeting");
    /* The view is the library's buffer, not a copy. */
    CHECK(static_cast<const void *>(m.bytes().data()) == m.native()->data);
    CHECK(m.bytes().size() == 5 && m.size() == 5);
    CHECK(m.bytes().subview(1, 3).as_string_view() == "ell");
    CHECK(m.bytes().subview(9).empty());

    ipm::Message m2 = rx.receive(1s);
    CHECK(m2.text() == "abc" && m2.metadata() == topic);
    ipm::Message m3 = rx.receive(1s);
    CHECK(m3.size() == 4 && m3.bytes()[3] == std::byte{3} &&
          m3.metadata() == "view metadata");
    ipm::Message m4 = rx.receive(1s);
    CHECK(m4.size() == 0 && m4.metadata().empty());

    /* Moves leave the source empty; release is idempotent. */
    ipm::Message moved = std::move(m);
    CHECK(m.size() == 0 && m.data() == nullptr && m.metadata().empty());
    CHECK(moved.text() == "hello");
    moved.release();
    moved.release();
    CHECK(moved.size() == 0);

    ipm_stats st = tx.stats();
    CHECK(st.messages == 4 && st.bytes == 5 + 3 + 4);
    CHECK(rx.stats().messages == 4);

    /* Messages may outlive the receiver (the C contract). */
    tx.send(std::string_view("outlives"), 1s);
    ipm::Message kept = rx.receive(1s);
    ipm::Receiver gone = std::move(rx);
    CHECK(!rx);
    {
        ipm::Receiver drop = std::move(gone);
    }
    CHECK(kept.text() == "outlives");
}

void test_errors()
{
    try {
        ipm::Sender s("type=NoSuchSender; connection_string=tcp://127.0.0.1:1");
        CHECK(false);
    } catch (const ipm::Error &e) {
        CHECK(e.status() == IPM_ENOPLUGIN);
        CHECK_CONTAINS(e.what(), "NoSuchSender");
    }
    try {
        ipm::Receiver r("type=ShmReceiver; conection_string=shm://x");
        CHECK(false);
    } catch (const ipm::Error &e) {
        CHECK(e.status() == IPM_ECONFIG);
        CHECK_CONTAINS(e.what(), "did you mean 'connection_string'");
    }
    CHECK_THROWS(ipm::Params::parse("a=1; a=2"), ipm::Error);

    const std::string name = check::unique("ipm-cxx");
    ipm::Receiver rx(shm_spec("ShmReceiver", name));
    auto before = std::chrono::steady_clock::now();
    try {
        rx.receive(50ms);
        CHECK(false);
    } catch (const ipm::TimeoutError &e) {
        CHECK(e.status() == IPM_ETIMEDOUT);
        CHECK(std::string(e.what()).size() > 0);
    }
    CHECK(check::elapsed_ms(before) >= 50);
    CHECK(!rx.try_receive(10ms).has_value());

    ipm::Sender tx(shm_spec("ShmSender", name));
    tx.send(std::string_view("four"), 1s);
    try {
        rx.receive_exact(7, 1s);
        CHECK(false);
    } catch (const ipm::Error &e) {
        CHECK(e.status() == IPM_ESIZE);
    }
    CHECK(!rx.try_receive(10ms)); /* consumed */
    tx.send(std::string_view("four"), 1s);
    CHECK(rx.receive_exact(4, 1s).text() == "four");

    /* Unconnected: IPM_ESTATE. */
    ipm::Sender unconnected = ipm::Sender::create("ShmSender");
    CHECK(!unconnected.can_send() && unconnected.endpoint().empty());
    try {
        unconnected.send(std::string_view("x"), 0ms);
        CHECK(false);
    } catch (const ipm::Error &e) {
        CHECK(e.status() == IPM_ESTATE);
    }
    /* A full queue: try_send says false, send throws TimeoutError. */
    ipm::Receiver small(shm_spec("ShmReceiver", name + "-small", "; buffer_size=4096"));
    ipm::Sender filler(shm_spec("ShmSender", name + "-small"));
    std::string block(1000, 'b');
    int sent = 0;
    while (sent < 100 && filler.try_send(block.data(), block.size(), 0ms))
        sent++;
    CHECK(sent > 0 && sent < 100);
    CHECK_THROWS(filler.send(block.data(), block.size(), 10ms), ipm::TimeoutError);
}

void test_create_connect_params()
{
    ipm::Params p;
    p.set("connection_string", "inproc://" + check::unique("ipm-cxx"))
        .set("recv_hwm", "100");
    CHECK(p.size() == 2);
    CHECK(p.get("recv_hwm").value_or("") == "100");
    CHECK(!p.get("absent"));
    CHECK(p.at(0).first == "connection_string");
    CHECK_THROWS(p.at(5), std::out_of_range);

    ipm::Receiver rx = ipm::Receiver::create("ZmqReceiver");
    CHECK(!rx.can_receive());
    rx.connect(p);
    ipm::Sender tx = ipm::Sender::create("ZmqSender");
    tx.connect("connection_string=" + rx.endpoint());
    tx.send(std::string_view("over zmq"), 5s, "z");
    auto m = rx.receive(5s);
    CHECK(m.text() == "over zmq" && m.metadata() == "z");

    /* A receiver type is not a subscriber. */
    try {
        ipm::Receiver::create_subscriber("ZmqReceiver");
        CHECK(false);
    } catch (const ipm::Error &e) {
        CHECK(e.status() == IPM_EPLUGIN);
    }
}

void test_pubsub()
{
    const std::string name = check::unique("ipm-cxx-pub");
    ipm::Sender pub(shm_spec("ShmPublisher", name));
    ipm::Receiver sub = ipm::Receiver::create_subscriber("ShmSubscriber");
    sub.subscribe("tp");
    sub.connect("connection_string=shm://" + name);
    pub.send(std::string_view("no"), 0ms, "hsi");
    pub.send(std::string_view("yes"), 0ms, "tp-1");
    auto m = sub.receive(1s);
    CHECK(m.text() == "yes" && m.metadata() == "tp-1");
    CHECK(!sub.try_receive(20ms));
    sub.unsubscribe("tp");
    pub.send(std::string_view("gone"), 0ms, "tp-2");
    CHECK(!sub.try_receive(50ms));
}

void test_callbacks()
{
    const std::string name = check::unique("ipm-cxx");
    ipm::Receiver rx(shm_spec("ShmReceiver", name));
    ipm::Sender tx(shm_spec("ShmSender", name));
    std::atomic<int> count{0};
    std::atomic<bool> zero_copy{true};
    rx.set_callback([&](const ipm::MessageView &m) {
        if (m.text() != "cb" || m.metadata() != "meta") zero_copy = false;
        if (static_cast<const void *>(m.bytes().data()) != m.data()) zero_copy = false;
        if (++count == 2)
            throw std::runtime_error("a throwing callback must not kill us");
    });
    CHECK(!rx.can_receive());
    CHECK_THROWS(rx.receive(0ms), ipm::Error);

    /* Moving the receiver keeps the running callback valid. */
    ipm::Receiver moved = std::move(rx);
    for (int i = 0; i < 5; i++)
        tx.send(std::string_view("cb"), 1s, "meta");
    for (int i = 0; i < 1000 && count.load() < 5; i++)
        usleep(5000);
    CHECK(count.load() == 5);
    CHECK(zero_copy.load());
    moved.clear_callback();
    tx.send(std::string_view("after"), 1s);
    usleep(50000);
    CHECK(count.load() == 5);
    CHECK(moved.receive(1s).text() == "after");
}

void test_config()
{
    const std::string name = check::unique("ipm-cxx-cfg");
    const std::string path = "/tmp/" + name + ".ini";
    {
        std::ofstream f(path);
        f << "[ipm]\nzmq_io_threads = 1\n\n"
          << "[data_in]\ntype = ShmReceiver\nconnection_string = shm://" << name << "\n\n"
          << "[data_out]\ntype = ShmSender\nconnection_string = shm://" << name << "\n";
    }
    {
        ipm::Config cfg(path);
        CHECK(cfg.names() == (std::vector<std::string>{"data_in", "data_out"}));
        CHECK(cfg.params("data_out").get("type").value_or("") == "ShmSender");
        ipm::Receiver rx = cfg.receiver("data_in");
        ipm::Sender tx = cfg.sender("data_out");
        tx.send(std::string_view("configured"), 1s);
        CHECK(rx.receive(1s).text() == "configured");
        CHECK_THROWS(cfg.sender("nope"), ipm::Error);
    }
    std::remove(path.c_str());
    try {
        ipm::Config missing("/nonexistent/ipm.ini");
        CHECK(false);
    } catch (const ipm::Error &e) {
        CHECK_CONTAINS(e.what(), "/nonexistent/ipm.ini");
    }
}

} // namespace

int main()
{
    struct Case {
        const char *name;
        void (*run)();
    } cases[] = {
        {"timeouts", test_timeouts},
        {"send_receive_views", test_send_receive_views},
        {"errors", test_errors},
        {"create_connect_params", test_create_connect_params},
        {"pubsub", test_pubsub},
        {"callbacks", test_callbacks},
        {"config", test_config},
    };
    for (auto &c : cases) {
        int before = check::failures();
        try {
            c.run();
        } catch (const std::exception &e) {
            std::fprintf(stderr, "%s: unexpected exception: %s\n", c.name, e.what());
            ++check::failures();
        }
        std::printf("%s %s\n", check::failures() == before ? "ok  " : "FAIL", c.name);
    }
    CHECK(!ipm::version().empty());
    return check::report("bindings_cxx");
}
