// The end of a run under MPI: records, dropped messages, collected output.
#include <algorithm>
#include <cstring>
#include <vector>

#include "mpi/communicator.hpp"
#include "mpi/communicator_wait.hpp"
#include "unipar/codec.hpp"

namespace unipar::mpi_detail {

Communicator::RunEnd Communicator::finish_run(const detail::CollectiveLog& log,
                                              const std::string* output) {
  if (failure_) throw_failure();
  if (output != nullptr && !output->empty() && rank_ != 0) {
    send(0, output_tag, 0, std::as_bytes(std::span(output->data(), output->size())));
  }
  finished_out_.assign(static_cast<std::size_t>(size_), {});
  std::vector<MPI_Request> requests;
  for (int dest = 0; dest < size_; ++dest) {
    if (dest == rank_) continue;
    auto& record = finished_out_[static_cast<std::size_t>(dest)];
    record = {sent_[static_cast<std::size_t>(dest)], log};
    MPI_Request request = MPI_REQUEST_NULL;
    check(MPI_Isend(&record, sizeof record, MPI_BYTE, dest, finished_tag, data_, &request),
          "MPI_Isend");
    requests.push_back(request);
  }
  wait({{detail::Wait::Kind::end_of_run}}, [&] {
    while (drain_one()) {
    }
    for (int r = 0; r < size_; ++r) {
      if (r == rank_) continue;
      const auto& done = now_.finished[static_cast<std::size_t>(r)];
      if (!done || now_.received[static_cast<std::size_t>(r)] < done->messages) return false;
    }
    int sent = 0;
    check(
        MPI_Testall(static_cast<int>(requests.size()), requests.data(), &sent, MPI_STATUSES_IGNORE),
        "MPI_Testall");
    return sent != 0;
  });
  RunEnd end;
  for (int r = 0; r < size_; ++r) {
    end.logs.push_back(r == rank_ ? log : now_.finished[static_cast<std::size_t>(r)]->log);
  }
  if (rank_ == 0) {
    for (int r = 1; r < size_; ++r) {
      std::string text;
      detail::Decoder<std::string> decoder(text);
      if (now_.stash.take(rank_, r, output_tag, 0, decoder)) end.lines.push_back(std::move(text));
    }
  }
  // Messages nobody received are dropped, as under fork; what ranks already in the next run
  // sent is that run's.
  now_ = std::move(next_);
  next_ = RunState(size_);
  std::fill(sent_.begin(), sent_.end(), 0);
  ++run_;
  return end;
}

}  // namespace unipar::mpi_detail
