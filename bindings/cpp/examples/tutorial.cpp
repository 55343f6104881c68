// The seed tutorial with the C++ binding: columns, samples one by one and in a batch,
// iteration, commit, the second-writer error, a zero-copy read, summary and log.
//   g++ -std=c++17 tutorial.cpp -Ibindings/cpp/include $(pkg-config --cflags --libs hangar)
#include <hangar.hpp>

#include <sys/stat.h>

#include <cstdint>
#include <iostream>
#include <numeric>
#include <vector>

int main(int argc, char **argv) {
    std::string dir = argc > 1 ? argv[1] : "hangar-cpp-tutorial";
    mkdir(dir.c_str(), 0755);
    try {
        auto repo = hangar::Repository::init(dir, "Rick Izzo", "rick@tensorwerk.com", true);
        auto co = repo.checkout_writer();
        auto images = co.add_ndarray_column<uint8_t>("mnist_training_images", {28, 28});
        auto labels = co.add_ndarray_column<int64_t>("mnist_training_labels", {1});

        std::vector<uint8_t> img(28 * 28);
        for (uint64_t i = 0; i < 100; i++) {
            std::iota(img.begin(), img.end(), static_cast<uint8_t>(i));
            images.put(i, img, {28, 28});
            labels.put(i, std::vector<int64_t>{static_cast<int64_t>(i % 10)}, {1});
        }
        std::vector<uint8_t> batch(900 * 28 * 28, 7);
        std::vector<int64_t> batch_labels(900, 3);
        std::vector<hangar::Key> keys;
        for (uint64_t i = 100; i < 1000; i++) keys.emplace_back(i);
        images.put_batch(keys, batch.data(), {28, 28});
        labels.put_batch(keys, batch_labels.data(), {1});
        std::cout << "len(images) = " << images.size() << ", 42 in images: " << images.contains(42) << "\n";

        int64_t sum = 0;
        for (const hangar::Key &k : labels.keys()) sum += labels.get<int64_t>(k).data[0];
        std::cout << "sum of labels: " << sum << "\n";
        std::cout << "committed " << co.commit("hello world, this is my first hangar commit") << "\n";
        try {
            repo.checkout_writer();
        } catch (const hangar::Error &e) {
            std::cout << "second writer: " << e.what() << "\n";
        }
        co.close();

        auto reader = repo.checkout();
        auto view = reader["mnist_training_images"].view<uint8_t>(7);
        std::cout << "sample 7: " << view.shape()[0] << "x" << view.shape()[1] << ", first pixel "
                  << int(view[0]) << "\n";
        // Whole lines: the texts end without a newline of their own.
        for (const std::string &text : {repo.summary(), repo.log()}) {
            std::cout << text << (text.empty() || text.back() != '\n' ? "\n" : "");
        }
    } catch (const hangar::Error &e) {
        std::cerr << e.what() << "\n";
        return 1;
    }
    return 0;
}
