/*
 * ipm.hpp — a header-only C++17 wrapper over the C API of ipm.h.
 *
 * Every class owns exactly one C object and releases it in its destructor;
 * classes are movable, not copyable. Failures throw ipm::Error, carrying the
 * ipm_status and the ipm_last_error() text of the failing call (timeouts throw
 * ipm::TimeoutError, derived from it, unless the try_* form is used).
 * Timeouts are std::chrono durations: ipm::block waits forever, ipm::no_block
 * tries once, anything else is rounded up to whole milliseconds (so a timeout
 * never comes early; durations of 2^31 ms or more wait forever).
 *
 *   ipm::Receiver rx("type=ShmReceiver; connection_string=shm://demo");
 *   ipm::Sender tx("type=ShmSender; connection_string=shm://demo");
 *   tx.send(std::string_view("hello"), std::chrono::seconds(1), "greeting");
 *   ipm::Message m = rx.receive(std::chrono::seconds(1));
 *   std::cout << m.text() << " (" << m.metadata() << ")\n";
 *
 * Received data is not copied: Message::bytes() is a view into the library's
 * buffer, valid while the Message lives. The wrapper is as thread-safe as the
 * C objects are: one Sender or Receiver is used by one thread at a time.
 */
#ifndef IPM_IPM_HPP
#define IPM_IPM_HPP

#include "ipm/detail/cxx.hpp"
#include "ipm/ipm.h"

#include <chrono>
#include <cstddef>
#include <cstring>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#if defined(__has_include)
#if __has_include(<span>) && __cplusplus > 201703L
#include <span>
#endif
#endif

namespace ipm
{

/* ------------------------------------------------------------- errors */

/* A failed ipm call: status() is its ipm_status, what() its ipm_last_error()
 * text (or ipm_strerror() when the library left none). */
class Error : public std::runtime_error
{
  public:
    Error(ipm_status status, const std::string &message)
        : std::runtime_error(message), status_(status)
    {
    }
    ipm_status status() const noexcept
    {
        return status_;
    }

  private:
    ipm_status status_;
};

/* A send or receive that did not complete within its timeout. */
class TimeoutError : public Error
{
  public:
    using Error::Error;
};

namespace detail
{

/* Throw the exception for status s, with the calling thread's last error. */
[[noreturn]] inline void raise(ipm_status s)
{
    std::string text = ipm_cxx_detail::error_text(s);
    if (s == IPM_ETIMEDOUT) throw TimeoutError(s, text);
    throw Error(s, text);
}

inline void check(ipm_status s)
{
    if (s != IPM_OK) raise(s);
}

/* NUL-terminated copy for C calls that take const char *. */
inline std::string cstr(std::string_view s)
{
    return std::string(s);
}

} // namespace detail

/* A metadata (topic) argument: a C string or std::string is passed to the C
 * API as it is; only a std::string_view is copied, to add the NUL. */
class Metadata
{
  public:
    Metadata() noexcept = default;
    Metadata(const char *s) noexcept : p_(s) {}
    Metadata(const std::string &s) noexcept : p_(s.c_str()) {}
    Metadata(std::string_view s) : own_(s), p_(own_.c_str()) {}
    Metadata(const Metadata &o)
        : own_(o.own_), p_(o.p_ == o.own_.c_str() ? own_.c_str() : o.p_)
    {
    }
    Metadata &operator=(const Metadata &) = delete;
    const char *c_str() const noexcept
    {
        return p_;
    }

  private:
    std::string own_;
    const char *p_ = nullptr;
};

/* ----------------------------------------------------------- timeouts */

using milliseconds = std::chrono::milliseconds;
/* Wait forever / try once; the same values as DUNE-DAQ's s_block/s_no_block. */
inline constexpr milliseconds block = milliseconds::max();
inline constexpr milliseconds no_block = milliseconds::zero();

/* The timeout_ms argument of the C API for a chrono duration (rounded up;
 * 2^31 - 1 ms or more waits forever). */
using ipm_cxx_detail::timeout_ms;

/* ---------------------------------------------------------------- views */

/* A non-owning, read-only view of bytes (std::span<const std::byte> before
 * C++20). Valid as long as what it views. */
class ByteView
{
  public:
    constexpr ByteView() noexcept = default;
    constexpr ByteView(const void *data, std::size_t size) noexcept
        : data_(static_cast<const std::byte *>(data)), size_(size)
    {
    }

    constexpr const std::byte *data() const noexcept
    {
        return data_;
    }
    constexpr std::size_t size() const noexcept
    {
        return size_;
    }
    constexpr bool empty() const noexcept
    {
        return size_ == 0;
    }
    constexpr const std::byte *begin() const noexcept
    {
        return data_;
    }
    constexpr const std::byte *end() const noexcept
    {
        return data_ + size_;
    }
    constexpr std::byte operator[](std::size_t i) const noexcept
    {
        return data_[i];
    }
    /* Bytes [offset, offset + count) clamped to the view. */
    constexpr ByteView
    subview(std::size_t offset,
            std::size_t count = static_cast<std::size_t>(-1)) const noexcept
    {
        if (offset > size_) offset = size_;
        if (count > size_ - offset) count = size_ - offset;
        return ByteView(data_ + offset, count);
    }
    /* The same bytes as characters (no copy). */
    std::string_view as_string_view() const noexcept
    {
        return std::string_view(reinterpret_cast<const char *>(data_), size_);
    }
    /* A copy, for when the bytes must outlive the message. */
    std::vector<char> to_vector() const
    {
        const char *p = reinterpret_cast<const char *>(data_);
        return std::vector<char>(p, p + size_);
    }
#if defined(__cpp_lib_span)
    operator std::span<const std::byte>() const noexcept
    {
        return {data_, size_};
    }
#endif

  private:
    const std::byte *data_ = nullptr;
    std::size_t size_ = 0;
};

/* A message that someone else owns (the argument of a receive callback). */
class MessageView
{
  public:
    explicit MessageView(const ipm_message &m) noexcept : m_(&m) {}
    ByteView bytes() const noexcept
    {
        return ByteView(m_->data, m_->size);
    }
    std::string_view text() const noexcept
    {
        return bytes().as_string_view();
    }
    const void *data() const noexcept
    {
        return m_->data;
    }
    std::size_t size() const noexcept
    {
        return m_->size;
    }
    std::string_view metadata() const noexcept
    {
        return std::string_view(m_->metadata, m_->metadata_size);
    }

  private:
    const ipm_message *m_;
};

/* --------------------------------------------------------------- message */

/* A received message; owns the library's buffer until destroyed (or
 * release()d). The views it hands out die with it. */
class Message
{
  public:
    Message() noexcept
    {
        std::memset(&m_, 0, sizeof m_);
    }
    ~Message()
    {
        release();
    }
    Message(Message &&o) noexcept : m_(o.m_)
    {
        std::memset(&o.m_, 0, sizeof o.m_);
    }
    Message &operator=(Message &&o) noexcept
    {
        if (this != &o) {
            release();
            m_ = o.m_;
            std::memset(&o.m_, 0, sizeof o.m_);
        }
        return *this;
    }
    Message(const Message &) = delete;
    Message &operator=(const Message &) = delete;

    ByteView bytes() const noexcept
    {
        return ByteView(m_.data, m_.size);
    }
    std::string_view text() const noexcept
    {
        return bytes().as_string_view();
    }
    const void *data() const noexcept
    {
        return m_.data;
    }
    std::size_t size() const noexcept
    {
        return m_.size;
    }
    /* The metadata (the topic, for pub/sub); "" for an empty message object. */
    std::string_view metadata() const noexcept
    {
        return m_.metadata ? std::string_view(m_.metadata, m_.metadata_size)
                           : std::string_view();
    }
    MessageView view() const noexcept
    {
        return MessageView(m_);
    }
    /* Give the buffer back now; the Message becomes empty. */
    void release() noexcept
    {
        ipm_message_release(&m_);
    }
    /* The C struct, to fill with ipm_receive or read directly. */
    ipm_message *native() noexcept
    {
        return &m_;
    }

  private:
    ipm_message m_;
};

/* ---------------------------------------------------------------- params */

/* Ordered key=value connection info (ipm_params). */
class Params
{
  public:
    Params()
    {
        detail::check(ipm_params_new(&p_));
    }
    /* Parse a connection string ("tcp://h:1" or "key=value; key=value"). */
    static Params parse(std::string_view connection_string)
    {
        ipm_params *p = nullptr;
        detail::check(ipm_params_parse(detail::cstr(connection_string).c_str(), &p));
        return Params(p);
    }
    /* Take ownership of C params. */
    static Params adopt(ipm_params *p) noexcept
    {
        return Params(p);
    }
    ~Params()
    {
        ipm_params_free(p_);
    }
    Params(Params &&o) noexcept : p_(std::exchange(o.p_, nullptr)) {}
    Params &operator=(Params &&o) noexcept
    {
        if (this != &o) {
            ipm_params_free(p_);
            p_ = std::exchange(o.p_, nullptr);
        }
        return *this;
    }
    Params(const Params &) = delete;
    Params &operator=(const Params &) = delete;

    Params &set(std::string_view key, std::string_view value)
    {
        detail::check(
            ipm_params_set(p_, detail::cstr(key).c_str(), detail::cstr(value).c_str()));
        return *this;
    }
    /* The value of key, if present (a copy). */
    std::optional<std::string> get(std::string_view key) const
    {
        const char *v = ipm_params_get(p_, detail::cstr(key).c_str());
        if (!v) return std::nullopt;
        return std::string(v);
    }
    std::size_t size() const noexcept
    {
        return ipm_params_count(p_);
    }
    /* The i-th pair in insertion order. */
    std::pair<std::string, std::string> at(std::size_t i) const
    {
        const char *k = ipm_params_key_at(p_, i);
        if (!k) throw std::out_of_range("ipm::Params::at: index out of range");
        return {k, ipm_params_value_at(p_, i)};
    }
    const ipm_params *native() const noexcept
    {
        return p_;
    }

  private:
    explicit Params(ipm_params *p) noexcept : p_(p) {}
    ipm_params *p_ = nullptr;
};

/* ---------------------------------------------------------------- sender */

class Sender
{
  public:
    /* Open by connection string with a `type` key (ipm_sender_open). */
    explicit Sender(std::string_view spec)
    {
        detail::check(ipm_sender_open(detail::cstr(spec).c_str(), &s_));
    }
    /* An unconnected sender of a type; connect() it. */
    static Sender create(std::string_view type)
    {
        ipm_sender *s = nullptr;
        detail::check(ipm_sender_create(detail::cstr(type).c_str(), &s));
        return Sender(s);
    }
    /* Take ownership of a C sender (nullptr allowed: an empty Sender). */
    static Sender adopt(ipm_sender *s) noexcept
    {
        return Sender(s);
    }
    ~Sender()
    {
        ipm_sender_destroy(s_);
    }
    Sender(Sender &&o) noexcept : s_(std::exchange(o.s_, nullptr)) {}
    Sender &operator=(Sender &&o) noexcept
    {
        if (this != &o) {
            ipm_sender_destroy(s_);
            s_ = std::exchange(o.s_, nullptr);
        }
        return *this;
    }
    Sender(const Sender &) = delete;
    Sender &operator=(const Sender &) = delete;

    void connect(const Params &p)
    {
        detail::check(ipm_sender_connect(s_, p.native()));
    }
    void connect(std::string_view connection_string)
    {
        connect(Params::parse(connection_string));
    }

    /* Send size bytes; throws TimeoutError if they cannot be handed over in
     * time (nothing is sent then). The bytes are the caller's again on return. */
    template <class Rep = milliseconds::rep, class Period = milliseconds::period>
    void send(const void *data, std::size_t size,
              std::chrono::duration<Rep, Period> timeout = block,
              const Metadata &metadata = {})
    {
        detail::check(ipm_send(s_, data, size, timeout_ms(timeout), metadata.c_str()));
    }
    template <class Rep = milliseconds::rep, class Period = milliseconds::period>
    void send(ByteView data, std::chrono::duration<Rep, Period> timeout = block,
              const Metadata &metadata = {})
    {
        send(data.data(), data.size(), timeout, metadata);
    }
    template <class Rep = milliseconds::rep, class Period = milliseconds::period>
    void send(std::string_view data, std::chrono::duration<Rep, Period> timeout = block,
              const Metadata &metadata = {})
    {
        send(data.data(), data.size(), timeout, metadata);
    }
    /* As send, but false instead of TimeoutError. */
    template <class Rep = milliseconds::rep, class Period = milliseconds::period>
    bool try_send(const void *data, std::size_t size,
                  std::chrono::duration<Rep, Period> timeout = no_block,
                  const Metadata &metadata = {})
    {
        ipm_status s = ipm_send(s_, data, size, timeout_ms(timeout), metadata.c_str());
        if (s == IPM_ETIMEDOUT) return false;
        detail::check(s);
        return true;
    }

    bool can_send() const noexcept
    {
        return ipm_sender_can_send(s_);
    }
    /* Resolved endpoint, "" before connect. */
    std::string endpoint() const
    {
        const char *e = ipm_sender_endpoint(s_);
        return e ? e : "";
    }
    ipm_stats stats() const noexcept
    {
        ipm_stats st;
        ipm_sender_stats(s_, &st);
        return st;
    }
    ipm_sender *native() const noexcept
    {
        return s_;
    }
    explicit operator bool() const noexcept
    {
        return s_ != nullptr;
    }

  private:
    explicit Sender(ipm_sender *s) noexcept : s_(s) {}
    ipm_sender *s_ = nullptr;
};

/* -------------------------------------------------------------- receiver */

class Receiver
{
  public:
    using Callback = std::function<void(const MessageView &)>;

    /* Open by connection string with a `type` key (ipm_receiver_open);
     * subscribers subscribe to its `topics`. */
    explicit Receiver(std::string_view spec)
    {
        detail::check(ipm_receiver_open(detail::cstr(spec).c_str(), &r_));
    }
    /* An unconnected receiver (or subscriber) of a type. */
    static Receiver create(std::string_view type)
    {
        ipm_receiver *r = nullptr;
        detail::check(ipm_receiver_create(detail::cstr(type).c_str(), &r));
        return Receiver(r);
    }
    /* As create, but throws (IPM_EPLUGIN) unless the type is a subscriber. */
    static Receiver create_subscriber(std::string_view type)
    {
        ipm_receiver *r = nullptr;
        detail::check(ipm_subscriber_create(detail::cstr(type).c_str(), &r));
        return Receiver(r);
    }
    static Receiver adopt(ipm_receiver *r) noexcept
    {
        return Receiver(r);
    }
    /* Unregisters any callback (waiting for a running one), then closes. */
    ~Receiver()
    {
        ipm_receiver_destroy(r_);
    }
    /* The callback lives on the heap, so moving a Receiver whose callback is
     * running moves only the pointer the library already holds. */
    Receiver(Receiver &&o) noexcept
        : r_(std::exchange(o.r_, nullptr)), callback_(std::move(o.callback_))
    {
    }
    Receiver &operator=(Receiver &&o) noexcept
    {
        if (this != &o) {
            ipm_receiver_destroy(r_);
            r_ = std::exchange(o.r_, nullptr);
            callback_ = std::move(o.callback_);
        }
        return *this;
    }
    Receiver(const Receiver &) = delete;
    Receiver &operator=(const Receiver &) = delete;

    void connect(const Params &p)
    {
        detail::check(ipm_receiver_connect(r_, p.native()));
    }
    void connect(std::string_view connection_string)
    {
        connect(Params::parse(connection_string));
    }

    /* The next message; TimeoutError if none arrives within timeout. */
    template <class Rep = milliseconds::rep, class Period = milliseconds::period>
    Message receive(std::chrono::duration<Rep, Period> timeout = block)
    {
        Message m;
        detail::check(ipm_receive(r_, m.native(), timeout_ms(timeout)));
        return m;
    }
    /* As receive, but an empty optional instead of TimeoutError. */
    template <class Rep = milliseconds::rep, class Period = milliseconds::period>
    std::optional<Message>
    try_receive(std::chrono::duration<Rep, Period> timeout = no_block)
    {
        Message m;
        ipm_status s = ipm_receive(r_, m.native(), timeout_ms(timeout));
        if (s == IPM_ETIMEDOUT) return std::nullopt;
        detail::check(s);
        return std::optional<Message>(std::move(m));
    }
    /* The next message, which must be exactly size bytes: Error with
     * IPM_ESIZE otherwise (the message is consumed either way). */
    template <class Rep = milliseconds::rep, class Period = milliseconds::period>
    Message receive_exact(std::size_t size,
                          std::chrono::duration<Rep, Period> timeout = block)
    {
        Message m;
        ipm_status s = ipm_receive_exact(r_, m.native(), timeout_ms(timeout), size);
        if (s != IPM_OK) {
            m.release(); /* a wrong-size message was filled; give it back */
            detail::raise(s);
        }
        return m;
    }

    void subscribe(std::string_view topic)
    {
        detail::check(ipm_subscribe(r_, detail::cstr(topic).c_str()));
    }
    void unsubscribe(std::string_view topic)
    {
        detail::check(ipm_unsubscribe(r_, detail::cstr(topic).c_str()));
    }

    /* Call fn for every message on the library's callback thread; receive()
     * throws (IPM_ESTATE) while it is set. fn must not throw: an exception
     * escaping it is swallowed, as the C library cannot carry it. */
    void set_callback(Callback fn)
    {
        clear_callback();
        if (!fn) return;
        auto holder = std::make_unique<Callback>(std::move(fn));
        detail::check(ipm_receiver_set_callback(r_, &Receiver::trampoline, holder.get()));
        callback_ = std::move(holder);
    }
    /* Unregister; no callback runs after this returns (unless called from
     * inside the callback, which returns at once). */
    void clear_callback()
    {
        if (!callback_) return;
        detail::check(ipm_receiver_set_callback(r_, nullptr, nullptr));
        callback_.reset();
    }

    bool can_receive() const noexcept
    {
        return ipm_receiver_can_receive(r_);
    }
    std::string endpoint() const
    {
        const char *e = ipm_receiver_endpoint(r_);
        return e ? e : "";
    }
    ipm_stats stats() const noexcept
    {
        ipm_stats st;
        ipm_receiver_stats(r_, &st);
        return st;
    }
    ipm_receiver *native() const noexcept
    {
        return r_;
    }
    explicit operator bool() const noexcept
    {
        return r_ != nullptr;
    }

  private:
    explicit Receiver(ipm_receiver *r) noexcept : r_(r) {}
    static void trampoline(const ipm_message *msg, void *user)
    {
        try {
            (*static_cast<Callback *>(user))(MessageView(*msg));
        } catch (...) {
            /* Nowhere to report it: the C callback thread cannot unwind. */
        }
    }
    ipm_receiver *r_ = nullptr;
    std::unique_ptr<Callback> callback_;
};

/* ---------------------------------------------------------------- config */

/* A loaded INI file (ipm_config). */
class Config
{
  public:
    explicit Config(const std::string &path)
    {
        detail::check(ipm_config_load(path.c_str(), &c_));
    }
    ~Config()
    {
        ipm_config_free(c_);
    }
    Config(Config &&o) noexcept : c_(std::exchange(o.c_, nullptr)) {}
    Config &operator=(Config &&o) noexcept
    {
        if (this != &o) {
            ipm_config_free(c_);
            c_ = std::exchange(o.c_, nullptr);
        }
        return *this;
    }
    Config(const Config &) = delete;
    Config &operator=(const Config &) = delete;

    /* Connection section names, in file order ([ipm] excluded). */
    std::vector<std::string> names() const
    {
        std::vector<std::string> out;
        for (std::size_t i = 0, n = ipm_config_count(c_); i < n; i++)
            out.emplace_back(ipm_config_name_at(c_, i));
        return out;
    }
    Params params(std::string_view name) const
    {
        ipm_params *p = nullptr;
        detail::check(ipm_config_params(c_, detail::cstr(name).c_str(), &p));
        return Params::adopt(p);
    }
    /* The connected sender / receiver of section `name`. */
    Sender sender(std::string_view name) const
    {
        ipm_sender *s = nullptr;
        detail::check(ipm_config_sender(c_, detail::cstr(name).c_str(), &s));
        return Sender::adopt(s);
    }
    Receiver receiver(std::string_view name) const
    {
        ipm_receiver *r = nullptr;
        detail::check(ipm_config_receiver(c_, detail::cstr(name).c_str(), &r));
        return Receiver::adopt(r);
    }
    const ipm_config *native() const noexcept
    {
        return c_;
    }

  private:
    ipm_config *c_ = nullptr;
};

/* The library's version, "MAJOR.MINOR.PATCH". */
inline std::string_view version() noexcept
{
    return ipm_version();
}

} // namespace ipm

#endif /* IPM_IPM_HPP */
