/*
 * ipm/Sender.hpp — DUNE-DAQ's dunedaq::ipm::Sender over libipm.
 *
 * Code written against DUNE-DAQ's ipm compiles unchanged and gets every ipm
 * transport by type name:
 *
 *   auto sender = dunedaq::ipm::make_ipm_sender("ZmqSender");   // or "ShmSender", ...
 *   sender->connect_for_sends({{"connection_string", "tcp://127.0.0.1:12345"}});
 *   sender->send(data, size, std::chrono::milliseconds(10), "metadata");
 *
 * As in DUNE: Sender is an interface (send() checks, then calls the virtual
 * send_()); sending 0 bytes does nothing and returns true; a send that does
 * not complete in time throws SendTimeoutExpired (or returns false with
 * no_tmoexcept_mode); s_block waits forever. The connection object's keys go
 * to the ipm plugin (a JSON array is ipm's comma list, numbers and bools are
 * written as text; without connection_string, DUNE's inproc://default), and
 * ipm rejects a key the transport does not know, naming it. Every exception
 * derives from std::exception (through dunedaq::ipm::Issue), what() carrying
 * ipm's message.
 */
#ifndef IPM_INCLUDE_IPM_SENDER_HPP_
#define IPM_INCLUDE_IPM_SENDER_HPP_

#include "ipm/detail/dune.hpp"

#include <nlohmann/json.hpp>

#include <chrono>
#include <memory>
#include <string>

namespace dunedaq::ipm
{

class KnownStateForbidsSend : public Issue
{
  public:
    using Issue::Issue;
};
class NullPointerPassedToSend : public Issue
{
  public:
    using Issue::Issue;
};
class SendTimeoutExpired : public Issue
{
  public:
    using Issue::Issue;
};

class Sender
{
  public:
    using duration_t = std::chrono::milliseconds;
    static constexpr duration_t s_block = duration_t::max();
    static constexpr duration_t s_no_block = duration_t::zero();
    using message_size_t = int;

    Sender() = default;
    virtual ~Sender() = default;
    Sender(const Sender &) = delete;
    Sender &operator=(const Sender &) = delete;
    Sender(Sender &&) = delete;
    Sender &operator=(Sender &&) = delete;

    /* Bind or connect; returns the resolved endpoint. */
    virtual std::string connect_for_sends(const nlohmann::json &connection_info) = 0;
    virtual bool can_send() const noexcept = 0;

    /* Throws KnownStateForbidsSend before connect, NullPointerPassedToSend
     * for a null message; 0 bytes is a no-op (DUNE's rule). Returns false
     * only for a timeout in no_tmoexcept_mode. */
    bool send(const void *message, message_size_t message_size, const duration_t &timeout,
              std::string const &metadata = "", bool no_tmoexcept_mode = false)
    {
        if (message_size == 0) return true;
        if (!can_send())
            throw KnownStateForbidsSend("Sender not in a state to send data", IPM_ESTATE);
        if (!message)
            throw NullPointerPassedToSend(
                "A null pointer to memory was passed to Sender::send", IPM_EINVAL);
        if (message_size < 0)
            throw OperationFailed("Sender::send: negative message size " +
                                      std::to_string(message_size),
                                  IPM_EINVAL);
        return send_(message, message_size, timeout, metadata, no_tmoexcept_mode);
    }

  protected:
    virtual bool send_(const void *message, message_size_t N, const duration_t &timeout,
                       std::string const &metadata, bool no_tmoexcept_mode) = 0;
};

/* The Sender of every ipm sender type (ZmqSender, ZmqPublisher, ShmSender,
 * ShmPublisher, ... or a path to a plugin). */
class IpmSender final : public Sender
{
  public:
    /* Throws OperationFailed if no such sender plugin can be loaded. */
    explicit IpmSender(const std::string &type)
    {
        ipm_status s = ipm_sender_create(type.c_str(), &s_);
        if (s != IPM_OK) dune_detail::fail("make_ipm_sender(\"" + type + "\")", s);
    }
    ~IpmSender() override
    {
        ipm_sender_destroy(s_);
    }

    std::string connect_for_sends(const nlohmann::json &connection_info) override
    {
        auto p = dune_detail::params_from_json(connection_info, true);
        ipm_status s = ipm_sender_connect(s_, p.get());
        if (s != IPM_OK) dune_detail::fail("connect_for_sends", s);
        const char *ep = ipm_sender_endpoint(s_);
        return ep ? ep : "";
    }
    bool can_send() const noexcept override
    {
        return ipm_sender_can_send(s_);
    }
    /* The C sender, for ipm functions the DUNE API lacks (stats, loans). */
    ipm_sender *native() const noexcept
    {
        return s_;
    }

  protected:
    bool send_(const void *message, message_size_t n, const duration_t &timeout,
               std::string const &metadata, bool no_tmoexcept_mode) override
    {
        const int ms = ipm_cxx_detail::timeout_ms(timeout);
        ipm_status s = ipm_send(s_, message, static_cast<std::size_t>(n), ms,
                                metadata.empty() ? nullptr : metadata.c_str());
        if (s == IPM_OK) return true;
        /* ipm's message names the type and endpoint. */
        if (s == IPM_ETIMEDOUT) {
            if (no_tmoexcept_mode) return false;
            throw SendTimeoutExpired(
                dune_detail::with_detail(
                    "Unable to send within timeout period (timeout period was " +
                        std::to_string(timeout.count()) + " milliseconds)",
                    s),
                s);
        }
        if (s == IPM_ESTATE)
            throw KnownStateForbidsSend(
                dune_detail::with_detail("Sender not in a state to send data", s), s);
        dune_detail::fail("Sender::send", s);
    }

  private:
    ipm_sender *s_ = nullptr;
};

/* Factories: the type name of any ipm sender plugin. */
inline std::shared_ptr<Sender> make_ipm_sender(std::string const &plugin_name)
{
    return std::make_shared<IpmSender>(plugin_name);
}
/* The spelling of DUNE's earlier releases. */
inline std::shared_ptr<Sender> makeIPMSender(std::string const &plugin_name)
{
    return make_ipm_sender(plugin_name);
}

} // namespace dunedaq::ipm

#endif // IPM_INCLUDE_IPM_SENDER_HPP_
