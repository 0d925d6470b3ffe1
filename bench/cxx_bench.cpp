/*
 * cxx_bench.cpp — the cost of ipm.hpp over the C API: 64 B send + receive
 * pairs over ShmSender -> ShmReceiver in one process, through the C calls
 * and through ipm::Sender / ipm::Receiver / ipm::Message, alternating rounds
 * so that load drift hits both alike. Prints pairs/s of each (best round)
 * and their ratio.
 *
 *   ipm-cxx-bench [pairs per round, default 2000000] [rounds, default 5] [c|cxx|both]
 *
 * The third argument runs one side only, for instruction counts, e.g.
 *   valgrind --tool=callgrind ipm-cxx-bench 100000 1 c   (and ... cxx)
 */
#include "ipm/ipm.hpp"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

#include <unistd.h>

namespace
{

using clock_type = std::chrono::steady_clock;

double c_round(ipm_sender *tx, ipm_receiver *rx, long n, const char *payload)
{
    auto t0 = clock_type::now();
    ipm_message m;
    for (long i = 0; i < n; i++) {
        if (ipm_send(tx, payload, 64, IPM_BLOCK, "tp") != IPM_OK ||
            ipm_receive(rx, &m, IPM_BLOCK) != IPM_OK) {
            std::fprintf(stderr, "C API: %s\n", ipm_last_error());
            std::exit(1);
        }
        if (m.size != 64) std::exit(1);
        ipm_message_release(&m);
    }
    return n / std::chrono::duration<double>(clock_type::now() - t0).count();
}

double cxx_round(ipm::Sender &tx, ipm::Receiver &rx, long n, const char *payload)
{
    auto t0 = clock_type::now();
    for (long i = 0; i < n; i++) {
        tx.send(payload, 64, ipm::block, "tp");
        ipm::Message m = rx.receive();
        if (m.bytes().size() != 64) std::exit(1);
    }
    return n / std::chrono::duration<double>(clock_type::now() - t0).count();
}

} // namespace

int main(int argc, char **argv)
{
    const long n = argc > 1 ? std::atol(argv[1]) : 2000000;
    const int rounds = argc > 2 ? std::atoi(argv[2]) : 5;
    const std::string only = argc > 3 ? argv[3] : "both";
    const std::string name = "shm://ipm-cxx-bench-" + std::to_string(getpid());
    char payload[64] = {0};
    try {
        ipm::Receiver rx("type=ShmReceiver; connection_string=" + name);
        ipm::Sender tx("type=ShmSender; connection_string=" + name);
        double best_c = 0, best_cxx = 0;
        for (int r = 0; r < rounds; r++) {
            double c = only != "cxx" ? c_round(tx.native(), rx.native(), n, payload) : 0;
            double x = only != "c" ? cxx_round(tx, rx, n, payload) : 0;
            std::printf("round %d: C %.2f M pairs/s, C++ %.2f M pairs/s\n", r + 1,
                        c / 1e6, x / 1e6);
            best_c = c > best_c ? c : best_c;
            best_cxx = x > best_cxx ? x : best_cxx;
        }
        std::printf("best: C API %.2f M pairs/s, ipm.hpp %.2f M pairs/s, C++/C %.3f\n",
                    best_c / 1e6, best_cxx / 1e6, best_c > 0 ? best_cxx / best_c : 0.0);
    } catch (const ipm::Error &e) {
        std::fprintf(stderr, "ipm-cxx-bench: %s\n", e.what());
        return 1;
    }
    return 0;
}
