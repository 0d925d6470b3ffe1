/*
 * ipm/Receiver.hpp — DUNE-DAQ's dunedaq::ipm::Receiver and Subscriber over
 * libipm.
 *
 *   auto receiver = dunedaq::ipm::make_ipm_receiver("ZmqReceiver");  // "ShmReceiver",
 * ... receiver->connect_for_receives({{"connection_string", "tcp://127.0.0.1:12345"}});
 *   auto response = receiver->receive(std::chrono::milliseconds(10));
 *   // response.data (std::vector<char>), response.metadata (std::string)
 *
 * As in DUNE: receive() throws KnownStateForbidsReceive before connect,
 * ReceiveTimeoutExpired when nothing arrives in time (or returns an empty
 * Response with no_tmoexcept_mode), and UnexpectedNumberOfBytes when
 * num_bytes is not s_any_size and the message has another size (the message
 * is consumed). register_callback() hands every message to a function on
 * ipm's callback thread, which waits in the kernel (no polling);
 * unregister_callback() returns within 100 ms and no callback runs after it.
 * While a callback is registered, receive() throws KnownStateForbidsReceive.
 *
 * Subscriber is declared here too, because makeIPMReceiver() of a subscriber
 * type returns a Subscriber (as in DUNE, where a dynamic_pointer_cast finds
 * it); ipm/Subscriber.hpp includes this file.
 */
#ifndef IPM_INCLUDE_IPM_RECEIVER_HPP_
#define IPM_INCLUDE_IPM_RECEIVER_HPP_

#include "ipm/detail/dune.hpp"

#include <nlohmann/json.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace dunedaq::ipm
{

class KnownStateForbidsReceive : public Issue
{
  public:
    using Issue::Issue;
};
class UnexpectedNumberOfBytes : public Issue
{
  public:
    using Issue::Issue;
};
class ReceiveTimeoutExpired : public Issue
{
  public:
    using Issue::Issue;
};

class Receiver
{
  public:
    using duration_t = std::chrono::milliseconds;
    static constexpr duration_t s_block = duration_t::max();
    static constexpr duration_t s_no_block = duration_t::zero();
    using message_size_t = int;
    /* "I want 0 bytes" is pointless, so 0 means "any size" (DUNE's rule). */
    static constexpr message_size_t s_any_size = 0;

    struct Response {
        std::string metadata{""};
        std::vector<char> data{};
    };

    Receiver() = default;
    virtual ~Receiver() = default;
    Receiver(const Receiver &) = delete;
    Receiver &operator=(const Receiver &) = delete;
    Receiver(Receiver &&) = delete;
    Receiver &operator=(Receiver &&) = delete;

    /* Bind or connect; returns the resolved endpoint. */
    virtual std::string connect_for_receives(const nlohmann::json &connection_info) = 0;
    virtual bool can_receive() const noexcept = 0;

    Response receive(const duration_t &timeout, message_size_t num_bytes = s_any_size,
                     bool no_tmoexcept_mode = false)
    {
        if (!can_receive())
            throw KnownStateForbidsReceive("Receiver not in a state to receive data",
                                           IPM_ESTATE);
        Response r = receive_(timeout, no_tmoexcept_mode);
        if (num_bytes != s_any_size &&
            (num_bytes < 0 || r.data.size() != static_cast<std::size_t>(num_bytes)))
            throw UnexpectedNumberOfBytes("Expected " + std::to_string(num_bytes) +
                                              " bytes in message but received " +
                                              std::to_string(r.data.size()),
                                          IPM_ESIZE);
        return r;
    }

    virtual void register_callback(std::function<void(Response &)> callback) = 0;
    virtual void unregister_callback() = 0;

  protected:
    virtual Response receive_(const duration_t &timeout, bool no_tmoexcept_mode) = 0;
};

class Subscriber : public Receiver
{
  public:
    Subscriber() = default;
    Subscriber(const Subscriber &) = delete;
    Subscriber &operator=(const Subscriber &) = delete;
    Subscriber(Subscriber &&) = delete;
    Subscriber &operator=(Subscriber &&) = delete;

    /* Topics match by prefix, "" matches all; nothing arrives before the
     * first subscribe. */
    virtual void subscribe(std::string const &topic) = 0;
    virtual void unsubscribe(std::string const &topic) = 0;
};

namespace dune_detail
{

/* The ipm receiver behind IpmReceiver and IpmSubscriber: Base is Receiver or
 * Subscriber. Owns the C receiver (type-checked at creation by the factory)
 * and the registered callback. */
template <class Base> class ReceiverOver : public Base
{
  public:
    using duration_t = Receiver::duration_t;
    using Response = Receiver::Response;

    ~ReceiverOver() override
    {
        ipm_receiver_destroy(r_); /* unregisters the callback first */
    }

    std::string connect_for_receives(const nlohmann::json &connection_info) override
    {
        auto p = params_from_json(connection_info, !subscriber_);
        ipm_status s = ipm_receiver_connect(r_, p.get());
        if (s != IPM_OK) fail("connect_for_receives", s);
        connected_ = true;
        const char *ep = ipm_receiver_endpoint(r_);
        return ep ? ep : "";
    }
    /* DUNE's meaning: connected (also while a callback is registered). */
    bool can_receive() const noexcept override
    {
        return connected_;
    }

    void register_callback(std::function<void(Response &)> callback) override
    {
        unregister_callback();
        if (!callback) return;
        auto holder =
            std::make_unique<std::function<void(Response &)>>(std::move(callback));
        ipm_status s =
            ipm_receiver_set_callback(r_, &ReceiverOver::trampoline, holder.get());
        if (s != IPM_OK) fail("register_callback", s);
        callback_ = std::move(holder);
    }
    void unregister_callback() override
    {
        if (!callback_) return;
        ipm_status s = ipm_receiver_set_callback(r_, nullptr, nullptr);
        if (s != IPM_OK) fail("unregister_callback", s);
        callback_.reset();
    }

    /* The C receiver, for ipm functions the DUNE API lacks (stats, ...). */
    ipm_receiver *native() const noexcept
    {
        return r_;
    }

  protected:
    ReceiverOver(std::string type, ipm_receiver *r, bool subscriber) noexcept
        : type_(std::move(type)), r_(r), subscriber_(subscriber)
    {
    }

    Response receive_(const duration_t &timeout, bool no_tmoexcept_mode) override
    {
        ipm_message m;
        ipm_status s = ipm_receive(r_, &m, ipm_cxx_detail::timeout_ms(timeout));
        if (s == IPM_OK) {
            Response out;
            const char *d = static_cast<const char *>(m.data);
            out.data.assign(d, d + m.size);
            out.metadata.assign(m.metadata, m.metadata_size);
            ipm_message_release(&m);
            return out;
        }
        /* ipm's message names the type and endpoint. */
        if (s == IPM_ETIMEDOUT) {
            if (no_tmoexcept_mode) return Response();
            throw ReceiveTimeoutExpired(
                with_detail(
                    "Unable to receive within timeout period (timeout period was " +
                        std::to_string(timeout.count()) + " milliseconds)",
                    s),
                s);
        }
        if (s == IPM_ESTATE)
            throw KnownStateForbidsReceive(
                with_detail("Receiver not in a state to receive data", s), s);
        fail("Receiver::receive", s);
    }

    std::string type_;
    ipm_receiver *r_;

  private:
    /* Runs on ipm's callback thread; the message is copied into a Response,
     * which the callback may take apart. An exception cannot cross the C
     * library, so one escaping the callback is dropped there. */
    static void trampoline(const ipm_message *msg, void *user)
    {
        try {
            Response r;
            const char *d = static_cast<const char *>(msg->data);
            r.data.assign(d, d + msg->size);
            r.metadata.assign(msg->metadata, msg->metadata_size);
            (*static_cast<std::function<void(Response &)> *>(user))(r);
        } catch (...) {
        }
    }

    bool subscriber_;
    bool connected_ = false;
    std::unique_ptr<std::function<void(Response &)>> callback_;
};

} // namespace dune_detail

/* The Receiver of every ipm receiver type (ZmqReceiver, ShmReceiver, ...). */
class IpmReceiver final : public dune_detail::ReceiverOver<Receiver>
{
  public:
    IpmReceiver(std::string type, ipm_receiver *r) noexcept
        : ReceiverOver(std::move(type), r, false)
    {
    }
};

/* The Subscriber of every ipm subscriber type (ZmqSubscriber, ShmSubscriber, ...). */
class IpmSubscriber final : public dune_detail::ReceiverOver<Subscriber>
{
  public:
    IpmSubscriber(std::string type, ipm_receiver *r) noexcept
        : ReceiverOver(std::move(type), r, true)
    {
    }
    void subscribe(std::string const &topic) override
    {
        ipm_status s = ipm_subscribe(r_, topic.c_str());
        if (s != IPM_OK) dune_detail::fail(type_ + ": subscribe(\"" + topic + "\")", s);
    }
    void unsubscribe(std::string const &topic) override
    {
        ipm_status s = ipm_unsubscribe(r_, topic.c_str());
        if (s != IPM_OK) dune_detail::fail(type_ + ": unsubscribe(\"" + topic + "\")", s);
    }
};

/* What make_ipm_receiver returns: a std::shared_ptr<Receiver> that also
 * converts to std::shared_ptr<Subscriber> (null unless the type is a
 * subscriber), so that DUNE's README line
 *   std::shared_ptr<Subscriber> s = makeIPMReceiver("ZmqSubscriber");
 * compiles as written. */
class ReceiverPtr : public std::shared_ptr<Receiver>
{
  public:
    using std::shared_ptr<Receiver>::shared_ptr;
    using std::shared_ptr<Receiver>::operator=;
    ReceiverPtr(std::shared_ptr<Receiver> p) noexcept
        : std::shared_ptr<Receiver>(std::move(p))
    {
    }
    operator std::shared_ptr<Subscriber>() const noexcept
    {
        return std::dynamic_pointer_cast<Subscriber>(
            static_cast<const std::shared_ptr<Receiver> &>(*this));
    }
};

namespace dune_detail
{

/* A subscriber if the type is one, else a receiver. ipm_subscriber_create
 * refuses a receiver type with IPM_EPLUGIN; ipm_receiver_create then tells
 * a plain receiver (success) from a plugin that is unusable (the same
 * failure again). */
inline std::shared_ptr<Receiver> make_receiver(const std::string &type,
                                               bool subscriber_only)
{
    ipm_receiver *r = nullptr;
    ipm_status s = ipm_subscriber_create(type.c_str(), &r);
    if (s == IPM_OK) return std::make_shared<IpmSubscriber>(type, r);
    if (s != IPM_EPLUGIN) fail("make_ipm_receiver(\"" + type + "\")", s);
    s = ipm_receiver_create(type.c_str(), &r);
    if (s != IPM_OK) fail("make_ipm_receiver(\"" + type + "\")", s);
    if (subscriber_only) {
        /* DUNE's make_ipm_subscriber returns null for a receiver type. */
        ipm_receiver_destroy(r);
        return nullptr;
    }
    return std::make_shared<IpmReceiver>(type, r);
}

} // namespace dune_detail

/* Factories: the type name of any ipm receiver or subscriber plugin; throw
 * OperationFailed (with every path tried) if it cannot be loaded. */
inline ReceiverPtr make_ipm_receiver(std::string const &plugin_name)
{
    return ReceiverPtr(dune_detail::make_receiver(plugin_name, false));
}
/* Null if plugin_name is a receiver but not a subscriber, as in DUNE. */
inline std::shared_ptr<Subscriber> make_ipm_subscriber(std::string const &plugin_name)
{
    return std::static_pointer_cast<Subscriber>(
        dune_detail::make_receiver(plugin_name, true));
}
/* The spellings of DUNE's earlier releases. */
inline ReceiverPtr makeIPMReceiver(std::string const &plugin_name)
{
    return make_ipm_receiver(plugin_name);
}
inline std::shared_ptr<Subscriber> makeIPMSubscriber(std::string const &plugin_name)
{
    return make_ipm_subscriber(plugin_name);
}

} // namespace dunedaq::ipm

#endif // IPM_INCLUDE_IPM_RECEIVER_HPP_
